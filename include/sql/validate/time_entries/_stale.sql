-- A batch version older than the entry's current version in core (a re-run of an old batch,
-- a backfill) must not replace it: it is taken out of validation and counted as stale.
WITH stale AS (
    DELETE FROM _current c
    USING core.time_entry t
    JOIN staging.record r ON r.staging_id = t.staging_id
    WHERE t.source_id = c.source_id
      AND t.state IN ('accepted', 'held')
      AND (r.source_updated_at, r.staging_id) > (c.source_updated_at, c.staging_id)
    RETURNING c.currency, c.minutes, c.amount
)
SELECT 'stale', coalesce(currency, 'XXX'), count(*), coalesce(sum(minutes), 0),
       coalesce(sum(amount), 0)
FROM stale
GROUP BY 2
