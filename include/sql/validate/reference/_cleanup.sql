-- The source documents go as soon as the load is done (ON COMMIT DROP alone would keep them
-- until the caller's transaction ends, when the load runs inside one).
DROP TABLE _ref_doc
