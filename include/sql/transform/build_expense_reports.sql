-- Expense reports: one per accepted expense version, PS-EX-<expense id>-<n> (n counts the
-- expense's reports, reversals included), with the employee and one expense line: ERP expense
-- category and its GL account, amount and currency, job, billable. No notes (personal data).
-- Earlier reports are counted per expense through the lineage's source index.
WITH earlier AS (
    SELECT ex.source_id,
           (SELECT count(DISTINCT l.document_id)
            FROM posting.lineage l
            JOIN posting.document d ON d.document_id = l.document_id
            WHERE l.source_system = 'psa'
              AND l.entity = 'expenses'
              AND l.source_id = ex.source_id
              AND d.doc_type = 'expenseReport') AS reports
    FROM _ex ex
),
reversals AS (
    SELECT source_id, count(*) AS reports
    FROM _rev
    WHERE doc_type = 'expenseReport'
    GROUP BY source_id
),
report AS (
    SELECT ex.*,
           format('6|%%s|%%s|%%s', ex.entity_code, to_char(ex.tran_date, 'YYYYMMDD'),
                  ex.source_id) AS doc_key,
           format('PS-EX-%%s-%%s', ex.source_id,
                  coalesce(earlier.reports, 0) + coalesce(reversals.reports, 0) + 1)
               AS external_id,
           concat_ws('; ', format('PSA expense %%s', ex.source_id),
                     format('approval %%s', ex.submission_id),
                     CASE WHEN ex.deferred
                          THEN format('expense date %%s, posted in the next open period',
                                      ex.expense_date) END) AS memo
    FROM _ex ex
    LEFT JOIN earlier ON earlier.source_id = ex.source_id
    LEFT JOIN reversals ON reversals.source_id = ex.source_id
),
new_doc AS (
    INSERT INTO _doc (
        doc_key, doc_type, external_id, id_suffix, entity_code, posting_period_id, tran_date,
        currency, reverses_document_id, header, sublist, control_hours, control_amount
    )
    SELECT doc_key, 'expenseReport', external_id, false, entity_code, posting_period_id,
           tran_date, currency, NULL,
           jsonb_strip_nulls(jsonb_build_object(
               'tranDate', tran_date,
               'postingPeriod', CASE WHEN posting_period_id IS NOT NULL
                                     THEN jsonb_build_object('id', posting_period_id) END,
               'entity', CASE WHEN employee_id IS NOT NULL
                              THEN jsonb_build_object('id', employee_id) END,
               'memo', memo)),
           'expense', NULL, amount
    FROM report
),
new_line AS (
    INSERT INTO _line (
        doc_key, line_no, account_id, debit, credit, hours, amount, memo, dims, item
    )
    SELECT doc_key, 1, gl_account_id, amount, NULL, NULL, amount, memo,
           jsonb_strip_nulls(jsonb_build_object(
               'job', job_id, 'category', category_id, 'employee', employee_id,
               'department', department_id, 'class', class_id)),
           coalesce(
               (SELECT jsonb_object_agg(ref.field, jsonb_build_object('id', ref.id))
                FROM (VALUES ('category', category_id), ('currency', currency_id),
                             ('customer', job_id), ('expenseaccount', gl_account_id),
                             ('department', department_id), ('class', class_id))
                     AS ref (field, id)
                WHERE ref.id IS NOT NULL),
               '{}'::jsonb)
               || jsonb_strip_nulls(jsonb_build_object(
                      'expensedate', expense_date,
                      'amount', amount,
                      'isBillable', coalesce(billable, false),
                      'isnonreimbursable', NOT coalesce(reimbursable, true),
                      'memo', memo))
    FROM report
)
INSERT INTO _lineage (
    doc_key, line_no, entity, source_id, source_version, staging_id, submission_id,
    cost_rate_effective_date, cost_rate, hours, amount
)
SELECT doc_key, 1, 'expenses', source_id, source_version, staging_id, submission_id,
       NULL, NULL, NULL, amount
FROM report
