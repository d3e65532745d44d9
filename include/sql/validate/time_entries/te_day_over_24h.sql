-- A worker-day with more than 24 hours: every entry of the batch on that day is held, counting
-- the day's accepted entries that earlier batches brought in.
WITH day_entry AS (
    SELECT staging_id, psa_user_id, work_date, minutes, true AS in_batch
    FROM _current
    WHERE psa_user_id IS NOT NULL AND work_date IS NOT NULL AND minutes > 0
    UNION ALL
    SELECT t.staging_id, t.psa_user_id, t.work_date, t.minutes, false
    FROM core.time_entry t
    WHERE t.state = 'accepted'
      AND t.minutes > 0
      AND (t.psa_user_id, t.work_date) IN (SELECT psa_user_id, work_date FROM _current)
      AND NOT EXISTS (SELECT 1 FROM _current c WHERE c.source_id = t.source_id)
), over_full AS (
    SELECT psa_user_id, work_date, sum(minutes) AS day_minutes, count(*) AS day_entries
    FROM day_entry
    GROUP BY psa_user_id, work_date
    HAVING sum(minutes) > 1440
)
SELECT d.staging_id, d.psa_user_id AS user_id, d.work_date, o.day_minutes, o.day_entries
FROM day_entry d
JOIN over_full o ON o.psa_user_id = d.psa_user_id AND o.work_date = d.work_date
WHERE d.in_batch
