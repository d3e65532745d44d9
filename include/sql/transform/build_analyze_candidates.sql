-- Autovacuum never analyzes temporary tables: without statistics the planner takes them for
-- a handful of rows and joins them by nested loops, quadratic on a large backlog.
ANALYZE _te, _ex, _rev
