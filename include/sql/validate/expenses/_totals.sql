-- Control totals of the batch's current versions (stale ones taken out) and of what core now
-- holds for them (accepted, held), per currency of the record ('XXX' when it has none).
SELECT 'current', coalesce(c.currency, 'XXX'), count(*), 0, coalesce(sum(c.amount), 0)
FROM _current c
GROUP BY 2
UNION ALL
SELECT x.state, coalesce(x.currency, 'XXX'), count(*), 0,
       coalesce(sum((x.amount_cents / 100.0)::numeric(18, 2)), 0)
FROM _current c
JOIN core.expense x ON x.source_id = c.source_id AND x.source_version = c.source_version
WHERE x.state IN ('accepted', 'held')
GROUP BY 1, 2
