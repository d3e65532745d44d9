-- The working tables go as soon as validation is done (ON COMMIT DROP alone would keep them
-- until the caller's transaction ends, when validation runs inside one: a dry run).
DROP TABLE _current, _hit, _outcome
