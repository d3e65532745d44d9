-- Statistics as of now for the tables validation joins the batch against. Staging and core
-- grow by a whole batch between runs, faster than autovacuum re-analyzes them; planned with
-- the old numbers, one join of _current becomes a loop per record (measured: 143 s instead of
-- 1.6 s for 87k entries). ANALYZE samples a bounded number of rows, so this stays cheap.
ANALYZE staging.record, staging.batch_record, core.time_entry
