SELECT (SELECT count(*) FROM _doc) AS documents,
       (SELECT count(*) FROM _line) AS lines,
       (SELECT count(*) FROM _lineage) AS lineage_rows,
       (SELECT count(*) FROM _rev) AS reversed_versions
