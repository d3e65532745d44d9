-- Older versions of the batch's entries stop being current (docs/design §3); posted ones keep
-- their document ids, which is how the transform finds what to reverse (§8).
UPDATE core.time_entry t
SET state = 'superseded', updated_at = now()
FROM _current c
WHERE t.source_id = c.source_id
  AND t.source_version <> c.source_version
  AND t.state IN ('accepted', 'held')
