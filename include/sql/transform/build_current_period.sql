-- The current open period, where reversals post (design §8): the open posting period holding
-- the as-of date, else the first open one after it; reversals are dated the as-of date, or
-- that period's first day when it starts later.
SELECT ap.erp_period_id, greatest(%(as_of)s::date, ap.start_date) AS tran_date
FROM core.accounting_period ap
WHERE ap.is_posting AND NOT ap.closed AND ap.end_date >= %(as_of)s::date
ORDER BY ap.start_date
LIMIT 1
