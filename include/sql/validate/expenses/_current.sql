-- The current version of every expense the stage batch extracted (the latest staged version
-- per source id, docs/design §3), parsed once into typed columns with the reference it is
-- checked against. Every rule reads this table; none parses the payload again. Casts are safe:
-- a malformed value becomes NULL here (its raw value is kept for EX_MALFORMED's reason).
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
           nullif(v.payload ->> 'active_submission_id', '') AS submission_id,
           v.payload -> 'approved' AS raw_approved,
           v.payload ->> 'date' AS raw_date,
           staging.try_date(v.payload ->> 'date') AS expense_date,
           v.payload -> 'amount_in_cents' AS raw_amount,
           staging.try_bigint(v.payload -> 'amount_in_cents') AS amount_cents,
           v.payload ->> 'currency' AS raw_currency,
           nullif(v.payload ->> 'expense_category_id', '') AS psa_category_id,
           v.payload -> 'is_billable' AS raw_billable,
           v.payload -> 'reimbursable' AS raw_reimbursable,
           nullif(v.payload ->> 'receipt_id', '') AS receipt_id,
           -- Staging stores a NUL escape as the literal text \u0000 (jsonb cannot hold NUL).
           strpos(v.payload::text, '\\u0000') > 0 AS has_nul
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
           CASE WHEN jsonb_typeof(t.raw_billable) = 'boolean'
                THEN t.raw_billable = 'true'::jsonb END AS billable,
           CASE WHEN jsonb_typeof(t.raw_reimbursable) = 'boolean'
                THEN t.raw_reimbursable = 'true'::jsonb END AS reimbursable,
           CASE WHEN t.raw_currency ~ '^[A-Z]{3}$' THEN t.raw_currency END AS currency,
           (t.amount_cents / 100.0)::numeric(18, 2) AS amount,
           e.entity_code,
           e.currency AS entity_currency,
           e.receipt_threshold,
           coalesce(e.closed_period_policy, 'hold') AS closed_period_policy,
           coalesce(%(as_of)s::date, (now() AT TIME ZONE coalesce(e.time_zone, 'UTC'))::date)
               AS as_of_date
    FROM typed t
    LEFT JOIN core.project p ON p.psa_workspace_id = t.psa_workspace_id
    LEFT JOIN entity_by_currency ec ON ec.currency = p.currency
    LEFT JOIN core.entity_map e ON e.entity_code = coalesce(p.entity_code, ec.entity_code)
), period AS (
    -- Per distinct expense date: the posting month containing it and the first open one after.
    SELECT d.expense_date, inside.erp_period_id, inside.period_name, inside.closed,
           next_open.erp_period_id AS next_open_period_id
    FROM (SELECT DISTINCT expense_date FROM placed WHERE expense_date IS NOT NULL) d
    LEFT JOIN LATERAL (
        SELECT ap.erp_period_id, ap.period_name, ap.closed
        FROM core.accounting_period ap
        WHERE ap.is_posting AND ap.start_date <= d.expense_date AND ap.end_date >= d.expense_date
        ORDER BY ap.start_date DESC, ap.erp_period_id
        LIMIT 1
    ) inside ON true
    LEFT JOIN LATERAL (
        SELECT ap.erp_period_id
        FROM core.accounting_period ap
        WHERE ap.is_posting AND NOT ap.closed AND ap.start_date > d.expense_date
        ORDER BY ap.start_date, ap.erp_period_id
        LIMIT 1
    ) next_open ON true
)
SELECT pl.*,
       NULL::integer AS minutes,
       pe.erp_period_id AS period_id,
       pe.period_name,
       pe.closed AS period_closed,
       CASE WHEN NOT pe.closed THEN pe.erp_period_id
            WHEN pl.closed_period_policy = 'next_open' THEN pe.next_open_period_id
       END AS posting_period_id,
       EXISTS (
           SELECT 1 FROM core.expense x
           WHERE x.source_id = pl.source_id AND x.source_version = pl.source_version
             AND x.expense_report_document_id IS NOT NULL
       ) AS posted
FROM placed pl
LEFT JOIN period pe ON pe.expense_date = pl.expense_date
