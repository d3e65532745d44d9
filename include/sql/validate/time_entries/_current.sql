-- The current version of every time entry the stage batch extracted (the latest staged version
-- per source id, docs/design §3), parsed once into typed columns with the reference it is
-- checked against. Every rule reads this table; none parses the payload again. Casts are safe:
-- a malformed value becomes NULL here (its raw value is kept for TE_MALFORMED's reason), so
-- one bad record can never fail the batch.
CREATE TEMP TABLE _current ON COMMIT DROP AS
WITH version AS (
    SELECT DISTINCT ON (r.source_id)
           r.staging_id, r.source_id, r.source_version, r.source_updated_at, r.payload
    FROM staging.batch_version b
    JOIN staging.record r ON r.staging_id = b.staging_id
    WHERE b.batch_id = %(stage_batch_id)s
      AND r.source_system = %(source_system)s
      AND r.entity = %(entity)s
    ORDER BY r.source_id, r.source_updated_at DESC NULLS LAST, r.staging_id DESC
), typed AS (
    SELECT v.staging_id,
           v.source_id,
           v.source_version,
           v.source_updated_at,
           nullif(v.payload ->> 'workspace_id', '') AS psa_workspace_id,
           nullif(v.payload ->> 'user_id', '') AS psa_user_id,
           nullif(v.payload ->> 'role_id', '') AS psa_role_id,
           nullif(v.payload ->> 'story_id', '') AS story_id,
           nullif(v.payload ->> 'active_submission_id', '') AS submission_id,
           v.payload -> 'approved' AS raw_approved,
           v.payload ->> 'date_performed' AS raw_date,
           staging.try_date(v.payload ->> 'date_performed') AS work_date,
           v.payload -> 'time_in_minutes' AS raw_minutes,
           staging.try_bigint(v.payload -> 'time_in_minutes') AS minutes_big,
           v.payload -> 'rate_in_cents' AS raw_rate,
           staging.try_bigint(v.payload -> 'rate_in_cents') AS bill_rate_cents,
           v.payload -> 'billable' AS raw_billable,
           v.payload ->> 'currency' AS raw_currency,
           -- Staging stores a NUL escape as the literal text \u0000 (jsonb cannot hold NUL).
           strpos(v.payload::text, '\\u0000') > 0 AS has_nul,
           md5(coalesce(v.payload ->> 'notes', '')) AS notes_key,
           staging.try_timestamptz(v.payload ->> 'created_at') AS created_at
    FROM version v
), entity_by_currency AS (
    -- Projects without a NetSuite job yet: the legal entity is the only one in the project's
    -- currency (none when two entities share it).
    SELECT currency, min(entity_code) AS entity_code
    FROM core.entity_map
    GROUP BY currency
    HAVING count(*) = 1
), placed AS (
    SELECT t.*,
           CASE WHEN abs(t.minutes_big) <= 1000000 THEN t.minutes_big::int END AS minutes,
           CASE WHEN jsonb_typeof(t.raw_billable) = 'boolean'
                THEN t.raw_billable = 'true'::jsonb END AS billable,
           CASE WHEN t.raw_currency ~ '^[A-Z]{3}$' THEN t.raw_currency END AS currency,
           e.entity_code,
           e.currency AS entity_currency,
           coalesce(e.closed_period_policy, 'hold') AS closed_period_policy,
           coalesce(%(as_of)s::date, (now() AT TIME ZONE coalesce(e.time_zone, 'UTC'))::date)
               AS as_of_date,
           w.hcm_employee_id
    FROM typed t
    LEFT JOIN core.project p ON p.psa_workspace_id = t.psa_workspace_id
    LEFT JOIN entity_by_currency ec ON ec.currency = p.currency
    LEFT JOIN core.entity_map e ON e.entity_code = coalesce(p.entity_code, ec.entity_code)
    LEFT JOIN core.worker w ON w.psa_user_id = t.psa_user_id
), period AS (
    -- Per distinct work date: the posting month containing it and the first open one after.
    SELECT d.work_date, inside.erp_period_id, inside.period_name, inside.closed,
           next_open.erp_period_id AS next_open_period_id
    FROM (SELECT DISTINCT work_date FROM placed WHERE work_date IS NOT NULL) d
    LEFT JOIN LATERAL (
        SELECT ap.erp_period_id, ap.period_name, ap.closed
        FROM core.accounting_period ap
        WHERE ap.is_posting AND ap.start_date <= d.work_date AND ap.end_date >= d.work_date
        ORDER BY ap.start_date DESC, ap.erp_period_id
        LIMIT 1
    ) inside ON true
    LEFT JOIN LATERAL (
        SELECT ap.erp_period_id
        FROM core.accounting_period ap
        WHERE ap.is_posting AND NOT ap.closed AND ap.start_date > d.work_date
        ORDER BY ap.start_date, ap.erp_period_id
        LIMIT 1
    ) next_open ON true
)
SELECT pl.*,
       cr.hourly_cost AS cost_rate,
       cr.effective_date AS cost_rate_effective_date,
       cr.currency AS cost_rate_currency,
       pe.erp_period_id AS period_id,
       pe.period_name,
       pe.closed AS period_closed,
       pe.next_open_period_id,
       CASE WHEN NOT pe.closed THEN pe.erp_period_id
            WHEN pl.closed_period_policy = 'next_open' THEN pe.next_open_period_id
       END AS posting_period_id,
       -- The entry's billable value at its own rate (0 when not billable).
       CASE WHEN pl.billable IS FALSE THEN 0::numeric(18, 2)
            ELSE round(pl.minutes * pl.bill_rate_cents / 6000.0, 2)::numeric(18, 2)
       END AS amount,
       EXISTS (
           SELECT 1 FROM core.time_entry te
           WHERE te.source_id = pl.source_id AND te.source_version = pl.source_version
             AND (te.time_bill_document_id IS NOT NULL OR te.journal_document_id IS NOT NULL)
       ) AS posted
FROM placed pl
LEFT JOIN period pe ON pe.work_date = pl.work_date
LEFT JOIN LATERAL (
    SELECT c.hourly_cost, c.effective_date, c.currency
    FROM core.cost_rate c
    WHERE c.hcm_employee_id = pl.hcm_employee_id
      AND c.effective_date <= pl.work_date
      AND (c.end_date IS NULL OR c.end_date >= pl.work_date)
    ORDER BY c.effective_date DESC
    LIMIT 1
) cr ON true
