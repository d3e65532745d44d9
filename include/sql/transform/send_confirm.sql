UPDATE posting.document d
SET status = 'confirmed',
    erp_id = c.erp_id,
    attempts = d.attempts + 1,
    last_error = NULL,
    posted_batch_id = %(batch_id)s,
    confirmed_at = now()
FROM unnest(%(document_ids)s::bigint[], %(erp_ids)s::text[]) AS c (document_id, erp_id)
WHERE d.document_id = c.document_id
