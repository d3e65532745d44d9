-- Labour-cost journals (design §6): one per legal entity, posting period and work date of this
-- run, PS-LC-<entity>-<work date>-<document_id>. One debit line per (job, department, class) to
-- the entity's labour_cost account at Σ hours x cost rate, rounded per line; one credit line to
-- cost_clearing at the sum of the debit lines, so any rounding difference lands on the credit
-- and the journal balances to the cent. A version's share of its line is the difference of the
-- rounded running totals, so the lineage amounts of a line add up to the line exactly.
WITH entry AS (
    SELECT te.*,
           format('5|%%s|%%s|%%s', te.entity_code, to_char(te.work_date, 'YYYYMMDD'),
                  coalesce(te.posting_period_id, '')) AS doc_key,
           te.minutes * te.cost_rate / 60 AS cost
    FROM _te te
    WHERE te.needs_journal
),
share AS (
    SELECT entry.*,
           dense_rank() OVER (PARTITION BY doc_key ORDER BY job_id, department_id, class_id)
               ::integer AS line_no,
           round(sum(cost) OVER running, 2) - round(sum(cost) OVER running - cost, 2) AS amount
    FROM entry
    WINDOW running AS (PARTITION BY doc_key, job_id, department_id, class_id
                       ORDER BY source_id, source_version)
),
line AS (
    SELECT doc_key, line_no, job_id, department_id, class_id, labour_account_id,
           sum(hours) AS hours, sum(amount) AS amount
    FROM share
    GROUP BY doc_key, line_no, job_id, department_id, class_id, labour_account_id
),
doc AS (
    SELECT doc_key, entity_code, posting_period_id, tran_date, work_date, deferred,
           subsidiary_id, currency, currency_id, clearing_account_id,
           count(DISTINCT line_no)::integer AS labour_lines, sum(hours) AS hours,
           sum(amount) AS amount
    FROM share
    GROUP BY doc_key, entity_code, posting_period_id, tran_date, work_date, deferred,
             subsidiary_id, currency, currency_id, clearing_account_id
),
new_doc AS (
    INSERT INTO _doc (
        doc_key, doc_type, external_id, id_suffix, entity_code, posting_period_id, tran_date,
        currency, reverses_document_id, header, sublist, control_hours, control_amount
    )
    SELECT doc_key, 'journalEntry',
           format('PS-LC-%%s-%%s', entity_code, to_char(work_date, 'YYYYMMDD')), true,
           entity_code, posting_period_id, tran_date, currency, NULL,
           jsonb_strip_nulls(jsonb_build_object(
               'tranDate', tran_date,
               'postingPeriod', CASE WHEN posting_period_id IS NOT NULL
                                     THEN jsonb_build_object('id', posting_period_id) END,
               'subsidiary', jsonb_build_object('id', subsidiary_id),
               'currency', CASE WHEN currency_id IS NOT NULL
                                THEN jsonb_build_object('id', currency_id) END,
               'memo', concat_ws('; ', format('Labour cost of PSA time, %%s, work date %%s',
                                              entity_code, work_date),
                                 CASE WHEN deferred
                                      THEN 'posted in the next open period' END))),
           'line', hours, amount
    FROM doc
),
new_line AS (
    INSERT INTO _line (
        doc_key, line_no, account_id, debit, credit, hours, amount, memo, dims, item
    )
    SELECT doc_key, line_no, labour_account_id, amount, NULL, hours, amount, 'Labour cost',
           jsonb_strip_nulls(jsonb_build_object(
               'job', job_id, 'department', department_id, 'class', class_id)),
           coalesce(
               (SELECT jsonb_object_agg(ref.field, jsonb_build_object('id', ref.id))
                FROM (VALUES ('account', labour_account_id), ('entity', job_id),
                             ('department', department_id), ('class', class_id))
                     AS ref (field, id)
                WHERE ref.id IS NOT NULL),
               '{}'::jsonb)
               || jsonb_build_object('debit', amount, 'memo', 'Labour cost')
    FROM line
    UNION ALL
    SELECT doc_key, labour_lines + 1, clearing_account_id, NULL, amount, hours, amount,
           'Labour cost clearing', '{}'::jsonb,
           jsonb_strip_nulls(jsonb_build_object(
               'account', jsonb_build_object('id', clearing_account_id),
               'credit', amount,
               'memo', 'Labour cost clearing'))
    FROM doc
)
INSERT INTO _lineage (
    doc_key, line_no, entity, source_id, source_version, staging_id, submission_id,
    cost_rate_effective_date, cost_rate, hours, amount
)
SELECT doc_key, line_no, 'time_entries', source_id, source_version, staging_id, submission_id,
       cost_rate_effective_date, cost_rate, hours, amount
FROM share
UNION ALL
SELECT share.doc_key, doc.labour_lines + 1, 'time_entries', share.source_id,
       share.source_version, share.staging_id, share.submission_id,
       share.cost_rate_effective_date, share.cost_rate, share.hours, share.amount
FROM share
JOIN doc USING (doc_key)
