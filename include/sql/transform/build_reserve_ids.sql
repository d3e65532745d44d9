-- A block of document ids for this build, returned as its last id. Builds are serialised
-- (build_lock.sql) and nothing else draws from this sequence, so the block is this build's
-- alone and ids follow the documents' order (build_assign_ids.sql).
SELECT setval(pg_get_serial_sequence('posting.document', 'document_id'),
              nextval(pg_get_serial_sequence('posting.document', 'document_id'))
                  + %(count)s - 1)
