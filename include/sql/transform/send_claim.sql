-- The next pending documents, locked until this chunk's outcome is committed: a concurrent
-- sender skips them and takes others, so no document is sent by two senders at once.
SELECT document_id, doc_type, external_id, body
FROM posting.document
WHERE status = 'pending'
ORDER BY document_id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
