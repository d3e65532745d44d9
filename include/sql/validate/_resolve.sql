-- Open exceptions of a validation rule that no longer fires on the record's current version
-- (the record was fixed, or the reference was) are resolved, with who resolved them and why.
UPDATE ops.exception e
SET status = 'resolved',
    resolved_at = now(),
    resolved_by = %(resolved_by)s,
    resolution_note = 'the rule no longer applies to version ' || c.source_version
                      || ' (validate batch ' || %(batch_id)s::text || ')'
FROM _current c
WHERE e.status = 'open'
  AND e.source_system = %(source_system)s
  AND e.entity = %(entity)s
  AND e.source_id = c.source_id
  AND e.rule_id = ANY(%(rule_ids)s)
  AND NOT c.posted
  AND NOT EXISTS (SELECT 1 FROM _hit h WHERE h.staging_id = c.staging_id AND h.rule_id = e.rule_id)
