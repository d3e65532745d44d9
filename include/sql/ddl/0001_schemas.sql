-- The five schemas of ps-sync's store (DESIGN §2). ops.schema_migration is created by the
-- migrator itself before this file runs.
CREATE SCHEMA IF NOT EXISTS staging;
COMMENT ON SCHEMA staging IS 'Append-only raw pages from source systems, one row per record version';
CREATE SCHEMA IF NOT EXISTS core;
COMMENT ON SCHEMA core IS 'Canonical model: customers, projects, workers, cost rates, time, expenses, invoices';
CREATE SCHEMA IF NOT EXISTS posting;
COMMENT ON SCHEMA posting IS 'Transactional outbox of ERP documents, their lines, idempotency keys and lineage';
CREATE SCHEMA IF NOT EXISTS ops;
COMMENT ON SCHEMA ops IS 'Operations: batches and control totals, the exception work queue, check results';
CREATE SCHEMA IF NOT EXISTS analytics;
COMMENT ON SCHEMA analytics IS 'Conformed dimensions, facts and KPI views for BI tools';
