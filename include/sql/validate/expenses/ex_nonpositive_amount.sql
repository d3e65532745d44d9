-- An expense of zero or a negative amount (refunds are corrections of the original expense).
SELECT staging_id, amount, currency
FROM _current
WHERE amount_cents <= 0
