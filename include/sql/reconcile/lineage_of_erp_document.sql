-- From an ERP document (its NetSuite internal id or its externalId) back to every source
-- record version behind each of its lines: the time entry and version, its approval, the
-- cost-rate version used, the staging row, and the Airflow run, task and try that posted it.
-- Parameters: %(erp_id)s or %(external_id)s (the other NULL).
SELECT d.doc_type,
       d.external_id,
       d.erp_id,
       d.status,
       l.line_no,
       l.account_id,
       l.debit,
       l.credit,
       l.hours             AS line_hours,
       g.source_system,
       g.entity,
       g.source_id,
       g.source_version,
       g.submission_id     AS approval_submission_id,
       g.cost_rate,
       g.cost_rate_effective_date,
       g.hours             AS source_hours,
       g.amount            AS source_amount,
       g.staging_id,
       s.batch_id          AS staged_by_batch_id,
       s.loaded_at         AS staged_at,
       g.dag_id,
       g.run_id,
       g.task_id,
       g.try_number
FROM posting.document d
JOIN posting.document_line l ON l.document_id = d.document_id
JOIN posting.lineage g ON g.document_id = l.document_id AND g.line_no = l.line_no
JOIN staging.record s ON s.staging_id = g.staging_id
WHERE (d.erp_id = %(erp_id)s OR d.external_id = %(external_id)s)
ORDER BY l.line_no, g.source_id, g.source_version;
