-- No NetSuite posting period (a month) covers the expense date.
SELECT staging_id, expense_date
FROM _current
WHERE expense_date IS NOT NULL AND period_id IS NULL
