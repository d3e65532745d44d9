-- Reversing expense reports: the expense's next PS-EX-<id>-<n> with the original's lines at
-- negative amounts, dated in the current open period.
-- Earlier reports are counted per expense through the lineage's source index.
WITH earlier AS (
    SELECT s.source_id,
           (SELECT count(DISTINCT l.document_id)
            FROM posting.lineage l
            JOIN posting.document d ON d.document_id = l.document_id
            WHERE l.source_system = 'psa'
              AND l.entity = 'expenses'
              AND l.source_id = s.source_id
              AND d.doc_type = 'expenseReport') AS reports
    FROM (SELECT DISTINCT source_id FROM _revline WHERE doc_type = 'expenseReport') s
),
reversed AS (
    SELECT d.document_id AS original_document_id, x.source_id, x.state, d.entity_code,
           d.currency, d.external_id AS original_external_id, d.body,
           format('3|%%s|%%s|%%s|%%s', d.entity_code, to_char(%(tran_date)s::date, 'YYYYMMDD'),
                  x.source_id, lpad(d.document_id::text, 19, '0')) AS doc_key,
           coalesce(max(earlier.reports), 0)
               + row_number() OVER (PARTITION BY x.source_id ORDER BY d.document_id) AS n,
           sum(x.amount) AS amount
    FROM _revline x
    JOIN posting.document d ON d.document_id = x.original_document_id
    LEFT JOIN earlier ON earlier.source_id = x.source_id
    WHERE x.doc_type = 'expenseReport'
    GROUP BY d.document_id, x.source_id, x.state
),
new_doc AS (
    INSERT INTO _doc (
        doc_key, doc_type, external_id, id_suffix, entity_code, posting_period_id, tran_date,
        currency, reverses_document_id, header, sublist, control_hours, control_amount
    )
    SELECT doc_key, 'expenseReport', format('PS-EX-%%s-%%s', source_id, n), false,
           entity_code, %(period_id)s, %(tran_date)s, currency, original_document_id,
           jsonb_strip_nulls(
               (body - 'externalId' - 'expense')
               || jsonb_build_object(
                      'tranDate', %(tran_date)s::date,
                      'postingPeriod', CASE WHEN %(period_id)s::text IS NOT NULL
                                            THEN jsonb_build_object('id', %(period_id)s::text)
                                       END,
                      'memo', format('Reverses %%s: PSA expense %%s %%s at the source',
                                     original_external_id, source_id,
                                     CASE state WHEN 'deleted' THEN 'deleted'
                                                ELSE 'changed' END))),
           'expense', NULL, -amount
    FROM reversed
),
new_line AS (
    INSERT INTO _line (
        doc_key, line_no, account_id, debit, credit, hours, amount, memo, dims, item
    )
    SELECT r.doc_key, x.original_line_no, x.account_id, NULL, x.amount, NULL, -x.amount,
           format('Reverses %%s', r.original_external_id), x.dims,
           (r.body -> 'expense' -> 'items' -> (x.original_line_no - 1))
               || jsonb_build_object('amount', -x.amount,
                                     'memo', format('Reverses %%s', r.original_external_id))
    FROM _revline x
    JOIN reversed r USING (original_document_id, source_id)
)
INSERT INTO _lineage (
    doc_key, line_no, entity, source_id, source_version, staging_id, submission_id,
    cost_rate_effective_date, cost_rate, hours, amount
)
SELECT r.doc_key, x.original_line_no, x.entity, x.source_id, x.source_version, x.staging_id,
       x.submission_id, NULL, NULL, NULL, -x.amount
FROM _revline x
JOIN reversed r USING (original_document_id, source_id)
