-- Statistics for the assembled documents before they are numbered and written (see
-- build_analyze_candidates.sql).
ANALYZE _doc, _line, _lineage
