-- What each reversed version's document posted for it, line by line (its lineage), for the
-- reversal steps to take back exactly. Lineage is found through its source index.
INSERT INTO _revline (
    doc_type, original_document_id, original_line_no, debit_line, entity, source_id,
    source_version, state, staging_id, submission_id, cost_rate, cost_rate_effective_date,
    account_id, dims, hours, amount
)
SELECT r.doc_type, r.original_document_id, l.line_no, ol.debit IS NOT NULL, r.entity,
       r.source_id, r.source_version, r.state, r.staging_id, r.submission_id, r.cost_rate,
       r.cost_rate_effective_date, ol.account_id, ol.dims, l.hours, l.amount
FROM _rev r
CROSS JOIN LATERAL (
    SELECT l.line_no, l.hours, l.amount
    FROM posting.lineage l
    WHERE l.source_system = 'psa'
      AND l.entity = r.entity
      AND l.source_id = r.source_id
      AND l.source_version = r.source_version
      AND l.document_id = r.original_document_id
) l
JOIN posting.document_line ol ON ol.document_id = r.original_document_id AND ol.line_no = l.line_no
