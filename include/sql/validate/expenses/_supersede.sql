-- Older versions of the batch's expenses stop being current (docs/design §3); posted ones keep
-- their document id, which is how the transform finds what to reverse (§8).
UPDATE core.expense x
SET state = 'superseded', updated_at = now()
FROM _current c
WHERE x.source_id = c.source_id
  AND x.source_version <> c.source_version
  AND x.state IN ('accepted', 'held')
