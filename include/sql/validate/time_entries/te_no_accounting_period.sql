-- No NetSuite posting period (a month; not a quarter, year or adjustment period) covers the
-- work date.
SELECT staging_id, work_date
FROM _current
WHERE work_date IS NOT NULL AND period_id IS NULL
