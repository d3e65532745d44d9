-- The outbox rows: body = the exact NetSuite request body (header, externalId, sublist items
-- in line order).
INSERT INTO posting.document (
    document_id, doc_type, external_id, entity_code, posting_period_id, tran_date, body,
    reverses_document_id, control_hours, control_amount, currency, created_batch_id
)
OVERRIDING SYSTEM VALUE
SELECT d.document_id, d.doc_type, d.external_id, d.entity_code, d.posting_period_id,
       d.tran_date,
       d.header
           || jsonb_build_object('externalId', d.external_id)
           || CASE WHEN d.sublist IS NULL THEN '{}'::jsonb
                   ELSE jsonb_build_object(d.sublist, jsonb_build_object('items', (
                            SELECT jsonb_agg(l.item ORDER BY l.line_no)
                            FROM _line l
                            WHERE l.doc_key = d.doc_key)))
              END,
       d.reverses_document_id, d.control_hours, d.control_amount, d.currency, %(batch_id)s
FROM _doc d
ORDER BY d.document_id
