-- Time bills: one per billable accepted version, PS-TB-<time entry id>-<n> (n counts the
-- entry's time bills, reversals included). The body names records by id only: notes may hold
-- personal data and never leave the PSA.
-- Earlier time bills are counted per entry through the lineage's source index, whatever the
-- size of the lineage and the state of its statistics.
WITH earlier AS (
    SELECT te.source_id,
           (SELECT count(DISTINCT l.document_id)
            FROM posting.lineage l
            JOIN posting.document d ON d.document_id = l.document_id
            WHERE l.source_system = 'psa'
              AND l.entity = 'time_entries'
              AND l.source_id = te.source_id
              AND d.doc_type = 'timeBill') AS time_bills
    FROM _te te
    WHERE te.needs_time_bill
),
reversals AS (
    SELECT source_id, count(*) AS time_bills
    FROM _rev
    WHERE doc_type = 'timeBill'
    GROUP BY source_id
),
bill AS (
    SELECT te.*,
           format('4|%%s|%%s|%%s', te.entity_code, to_char(te.tran_date, 'YYYYMMDD'),
                  te.source_id) AS doc_key,
           format('PS-TB-%%s-%%s', te.source_id,
                  coalesce(earlier.time_bills, 0) + coalesce(reversals.time_bills, 0) + 1)
               AS external_id,
           round(te.minutes * te.bill_rate / 60, 2) AS amount,
           concat_ws('; ', format('PSA time entry %%s', te.source_id),
                     format('approval %%s', te.submission_id),
                     CASE WHEN te.deferred
                          THEN format('work date %%s, posted in the next open period',
                                      te.work_date) END) AS memo,
           jsonb_strip_nulls(jsonb_build_object(
               'job', te.job_id, 'item', te.item_id, 'employee', te.employee_id,
               'department', te.department_id, 'class', te.class_id)) AS dims,
           (SELECT jsonb_object_agg(ref.field, jsonb_build_object('id', ref.id))
            FROM (VALUES ('employee', te.employee_id), ('customer', te.job_id),
                         ('item', te.item_id), ('subsidiary', te.subsidiary_id),
                         ('department', te.department_id), ('class', te.class_id))
                 AS ref (field, id)
            WHERE ref.id IS NOT NULL) AS refs
    FROM _te te
    LEFT JOIN earlier ON earlier.source_id = te.source_id
    LEFT JOIN reversals ON reversals.source_id = te.source_id
    WHERE te.needs_time_bill
),
new_doc AS (
    INSERT INTO _doc (
        doc_key, doc_type, external_id, id_suffix, entity_code, posting_period_id, tran_date,
        currency, reverses_document_id, header, sublist, control_hours, control_amount
    )
    SELECT doc_key, 'timeBill', external_id, false, entity_code, posting_period_id, tran_date,
           bill_currency, NULL,
           coalesce(refs, '{}'::jsonb) || jsonb_build_object(
               'tranDate', tran_date,
               'hours', trim_scale(hours),
               'rate', trim_scale(bill_rate),
               'isBillable', true,
               'memo', memo),
           NULL, hours, amount
    FROM bill
),
new_line AS (
    INSERT INTO _line (doc_key, line_no, account_id, debit, credit, hours, amount, memo, dims)
    SELECT doc_key, 1, NULL, NULL, NULL, hours, amount, memo, dims
    FROM bill
)
INSERT INTO _lineage (
    doc_key, line_no, entity, source_id, source_version, staging_id, submission_id,
    cost_rate_effective_date, cost_rate, hours, amount
)
SELECT doc_key, 1, 'time_entries', source_id, source_version, staging_id, submission_id,
       cost_rate_effective_date, cost_rate, hours, amount
FROM bill
