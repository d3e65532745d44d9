-- Statistics for the reversed lineage (see build_analyze_candidates.sql).
ANALYZE _revline
