-- The lines of the documents a build created, in document and line order (the GL impact a
-- preview shows; document_no is the document's position in its build).
SELECT d.document_id,
       dense_rank() OVER (ORDER BY d.document_id) AS document_no,
       d.doc_type, d.external_id, d.entity_code, d.posting_period_id, d.tran_date, d.currency,
       r.external_id AS reverses_external_id,
       l.line_no, l.account_id, l.debit, l.credit, l.hours, l.amount, l.memo, l.dims
FROM posting.document d
JOIN posting.document_line l ON l.document_id = d.document_id
LEFT JOIN posting.document r ON r.document_id = d.reverses_document_id
WHERE d.created_batch_id = %(batch_id)s
ORDER BY d.document_id, l.line_no
