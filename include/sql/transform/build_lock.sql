-- One build at a time: two concurrent builds would both find the same unassigned versions and
-- create their documents twice. The lock ends with the build's transaction.
SELECT pg_advisory_xact_lock(hashtextextended('ps_sync.posting.build_documents', 0))
