-- A batch version older than the expense's current version in core (a re-run of an old batch,
-- a backfill) must not replace it: it is taken out of validation and counted as stale.
WITH stale AS (
    DELETE FROM _current c
    USING core.expense x
    JOIN staging.record r ON r.staging_id = x.staging_id
    WHERE x.source_id = c.source_id
      AND x.state IN ('accepted', 'held')
      AND (r.source_updated_at, r.staging_id) > (c.source_updated_at, c.staging_id)
    RETURNING c.currency, c.amount
)
SELECT 'stale', coalesce(currency, 'XXX'), count(*), 0, coalesce(sum(amount), 0)
FROM stale
GROUP BY 2
