-- Document ids in doc_key order from the reserved block, and the journals' external ids,
-- which end in their document id (design §4).
UPDATE _doc d
SET document_id = o.document_id,
    external_id = CASE WHEN d.id_suffix THEN format('%%s-%%s', d.external_id, o.document_id)
                       ELSE d.external_id END
FROM (
    SELECT doc_key,
           %(first_id)s::bigint - 1 + row_number() OVER (ORDER BY doc_key COLLATE "C")
               AS document_id
    FROM _doc
) o
WHERE o.doc_key = d.doc_key
