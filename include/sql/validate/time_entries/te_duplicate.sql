-- The same time submitted twice: same user, workspace, story, date, minutes and notes. The
-- first (earliest created, then lowest id) is the original and passes; each later copy is
-- held. Entries of earlier batches count as originals.
WITH candidate AS (
    SELECT c.staging_id, c.source_id, c.psa_user_id, c.psa_workspace_id, c.story_id,
           c.work_date, c.minutes, c.notes_key, c.created_at, true AS in_batch
    FROM _current c
    WHERE c.psa_user_id IS NOT NULL AND c.work_date IS NOT NULL AND c.minutes IS NOT NULL
    UNION ALL
    SELECT t.staging_id, t.source_id, t.psa_user_id, t.psa_workspace_id, t.story_id,
           t.work_date, t.minutes, md5(coalesce(r.payload ->> 'notes', '')),
           staging.try_timestamptz(r.payload ->> 'created_at'), false
    FROM core.time_entry t
    JOIN staging.record r ON r.staging_id = t.staging_id
    WHERE t.state IN ('accepted', 'held')
      AND (t.psa_user_id, t.work_date) IN (SELECT psa_user_id, work_date FROM _current)
      AND NOT EXISTS (SELECT 1 FROM _current c WHERE c.source_id = t.source_id)
), ranked AS (
    SELECT staging_id, in_batch,
           first_value(source_id) OVER same AS original_id,
           row_number() OVER same AS copy_no
    FROM candidate
    WINDOW same AS (
        PARTITION BY psa_user_id, psa_workspace_id, story_id, work_date, minutes, notes_key
        ORDER BY created_at NULLS LAST, length(source_id), source_id
    )
)
SELECT staging_id, original_id
FROM ranked
WHERE copy_no > 1 AND in_batch
