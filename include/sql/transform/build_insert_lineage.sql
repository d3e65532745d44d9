-- Lineage (design §9): every line back to the source versions it carries, with the approval,
-- the cost-rate version and the Airflow task that built it.
INSERT INTO posting.lineage (
    document_id, line_no, source_system, entity, source_id, source_version, staging_id,
    submission_id, cost_rate_effective_date, cost_rate, hours, amount, dag_id, run_id, task_id,
    try_number
)
SELECT d.document_id, g.line_no, 'psa', g.entity, g.source_id, g.source_version, g.staging_id,
       g.submission_id, g.cost_rate_effective_date, g.cost_rate, g.hours, g.amount,
       %(dag_id)s, %(run_id)s, %(task_id)s, %(try_number)s
FROM _lineage g
JOIN _doc d USING (doc_key)
ORDER BY d.document_id, g.line_no, g.source_id, g.source_version
