-- Every version of the entity the stage batch extracted (several per record when a record
-- changed while the batch paged through it).
SELECT count(*)
FROM staging.batch_version b
JOIN staging.record r ON r.staging_id = b.staging_id
WHERE b.batch_id = %(stage_batch_id)s
  AND r.source_system = %(source_system)s
  AND r.entity = %(entity)s
