-- Records each rule fired on (versions in posted documents excluded: they were not re-judged).
SELECT h.rule_id, count(DISTINCT h.staging_id)
FROM _hit h
JOIN _current c ON c.staging_id = h.staging_id
WHERE NOT c.posted
GROUP BY h.rule_id
