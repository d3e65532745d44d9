-- Temporary tables are never auto-analyzed; every rule plans against this one.
ANALYZE _current
