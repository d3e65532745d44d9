-- A document NetSuite refused: rejected with the refusal, and one open exception per document
-- (rule ERP_REJECTED) carrying the vendor's code, field and detail, never the request body.
-- Sending a requeued document again refreshes its open exception.
WITH refused AS (
    SELECT * FROM unnest(%(document_ids)s::bigint[], %(errors)s::text[], %(reasons)s::text[])
        AS r (document_id, error, reason)
),
rejected AS (
    UPDATE posting.document d
    SET status = 'rejected',
        attempts = d.attempts + 1,
        last_error = refused.error
    FROM refused
    WHERE d.document_id = refused.document_id
    RETURNING d.doc_type, d.external_id, d.entity_code, d.control_hours, d.control_amount,
              refused.reason
)
INSERT INTO ops.exception (
    source_system, entity, source_id, rule_id, severity, reason, remediation, legal_entity,
    amount, minutes, batch_id
)
SELECT 'erp', doc_type, external_id, 'ERP_REJECTED', 'error', reason,
       'Correct what NetSuite names (the record or reference at the field given, or the ERP '
           || 'setup), then set posting.document.status back to pending to send the same '
           || 'external id again',
       entity_code, control_amount, round(control_hours * 60)::integer, %(batch_id)s
FROM rejected
ON CONFLICT (source_system, entity, source_id, rule_id) WHERE status = 'open'
DO UPDATE SET reason = EXCLUDED.reason,
              amount = EXCLUDED.amount,
              minutes = EXCLUDED.minutes,
              batch_id = EXCLUDED.batch_id,
              last_seen_at = now()
