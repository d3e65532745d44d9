-- Control totals of the batch's current versions (stale ones taken out) and of what core now
-- holds for them (accepted, held), per currency of the record ('XXX' when it has none).
SELECT 'current', coalesce(c.currency, 'XXX'), count(*), coalesce(sum(c.minutes), 0),
       coalesce(sum(c.amount), 0)
FROM _current c
GROUP BY 2
UNION ALL
SELECT t.state, coalesce(t.currency, 'XXX'), count(*), coalesce(sum(t.minutes), 0),
       coalesce(sum(c.amount), 0)
FROM _current c
JOIN core.time_entry t ON t.source_id = c.source_id AND t.source_version = c.source_version
WHERE t.state IN ('accepted', 'held')
GROUP BY 1, 2
