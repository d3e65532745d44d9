-- Each version goes onto its new documents in the build's transaction (design §4), so a re-run
-- finds nothing left to do. One UPDATE per table: a row changed twice in one statement keeps
-- only one of the changes.
WITH assigned AS (
    SELECT g.entity, g.source_id, g.source_version,
           max(d.document_id) FILTER (WHERE d.doc_type = 'timeBill') AS time_bill_document_id,
           max(d.document_id) FILTER (WHERE d.doc_type = 'journalEntry') AS journal_document_id,
           max(d.document_id) FILTER (WHERE d.doc_type = 'expenseReport')
               AS expense_report_document_id
    FROM _lineage g
    JOIN _doc d USING (doc_key)
    WHERE d.reverses_document_id IS NULL
    GROUP BY g.entity, g.source_id, g.source_version
),
time_entries AS (
    UPDATE core.time_entry te
    SET time_bill_document_id = coalesce(a.time_bill_document_id, te.time_bill_document_id),
        journal_document_id = coalesce(a.journal_document_id, te.journal_document_id),
        updated_at = now()
    FROM assigned a
    WHERE a.entity = 'time_entries'
      AND te.source_id = a.source_id
      AND te.source_version = a.source_version
    RETURNING 1
),
expenses AS (
    UPDATE core.expense ex
    SET expense_report_document_id = a.expense_report_document_id,
        updated_at = now()
    FROM assigned a
    WHERE a.entity = 'expenses'
      AND ex.source_id = a.source_id
      AND ex.source_version = a.source_version
    RETURNING 1
)
SELECT (SELECT count(*) FROM time_entries) AS time_entry_versions,
       (SELECT count(*) FROM expenses) AS expense_versions
