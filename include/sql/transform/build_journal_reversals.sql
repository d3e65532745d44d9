-- Reversing labour-cost journals: one per original journal and run, taking back exactly what
-- the original posted for the versions being reversed (their lineage amounts), with debit and
-- credit swapped: a credit to labour cost per original debit line, a debit to cost clearing.
-- Lines and lineage carry negative hours and amounts, so every version's lineage nets to what
-- is posted for it.
WITH doc AS (
    SELECT d.document_id AS original_document_id,
           format('1|%%s|%%s|%%s', d.entity_code, to_char(%(tran_date)s::date, 'YYYYMMDD'),
                  lpad(d.document_id::text, 19, '0')) AS doc_key,
           d.entity_code, d.currency, d.external_id AS original_external_id, d.body,
           count(DISTINCT x.source_id) FILTER (WHERE x.debit_line) AS entries,
           count(DISTINCT x.original_line_no) FILTER (WHERE x.debit_line) AS labour_lines,
           max(x.original_line_no) FILTER (WHERE NOT x.debit_line) AS clearing_line_no,
           sum(x.hours) FILTER (WHERE x.debit_line) AS hours,
           sum(x.amount) FILTER (WHERE x.debit_line) AS amount
    FROM _revline x
    JOIN posting.document d ON d.document_id = x.original_document_id
    WHERE x.doc_type = 'journalEntry'
    GROUP BY d.document_id
),
line AS (
    SELECT doc.doc_key, x.original_line_no,
           dense_rank() OVER (PARTITION BY doc.doc_key ORDER BY x.original_line_no)::integer
               AS line_no,
           x.account_id, x.dims, sum(x.hours) AS hours, sum(x.amount) AS amount
    FROM _revline x
    JOIN doc USING (original_document_id)
    WHERE x.debit_line
    GROUP BY doc.doc_key, x.original_line_no, x.account_id, x.dims
),
new_doc AS (
    INSERT INTO _doc (
        doc_key, doc_type, external_id, id_suffix, entity_code, posting_period_id, tran_date,
        currency, reverses_document_id, header, sublist, control_hours, control_amount
    )
    SELECT doc_key, 'journalEntry',
           format('PS-LC-%%s-%%s', entity_code, to_char(%(tran_date)s::date, 'YYYYMMDD')),
           true, entity_code, %(period_id)s, %(tran_date)s, currency, original_document_id,
           jsonb_strip_nulls(jsonb_build_object(
               'tranDate', %(tran_date)s::date,
               'postingPeriod', CASE WHEN %(period_id)s::text IS NOT NULL
                                     THEN jsonb_build_object('id', %(period_id)s::text) END,
               'subsidiary', body -> 'subsidiary',
               'currency', body -> 'currency',
               'memo', format('Reverses %%s: %%s PSA time %%s changed or deleted at the source',
                              original_external_id, entries,
                              CASE WHEN entries = 1 THEN 'entry' ELSE 'entries' END))),
           'line', -hours, -amount
    FROM doc
),
new_line AS (
    INSERT INTO _line (
        doc_key, line_no, account_id, debit, credit, hours, amount, memo, dims, item
    )
    SELECT line.doc_key, line.line_no, line.account_id, NULL, line.amount, -line.hours,
           -line.amount, 'Reversal of labour cost', line.dims,
           (doc.body -> 'line' -> 'items' -> (line.original_line_no - 1)) - 'debit'
               || jsonb_build_object('credit', line.amount, 'memo', 'Reversal of labour cost')
    FROM line
    JOIN doc USING (doc_key)
    UNION ALL
    SELECT doc.doc_key, doc.labour_lines + 1, ol.account_id, doc.amount, NULL, -doc.hours,
           -doc.amount, 'Reversal of labour cost clearing', ol.dims,
           (doc.body -> 'line' -> 'items' -> (doc.clearing_line_no - 1)) - 'credit'
               || jsonb_build_object('debit', doc.amount,
                                     'memo', 'Reversal of labour cost clearing')
    FROM doc
    JOIN posting.document_line ol
      ON ol.document_id = doc.original_document_id AND ol.line_no = doc.clearing_line_no
)
INSERT INTO _lineage (
    doc_key, line_no, entity, source_id, source_version, staging_id, submission_id,
    cost_rate_effective_date, cost_rate, hours, amount
)
SELECT doc.doc_key,
       CASE WHEN x.debit_line THEN line.line_no ELSE doc.labour_lines + 1 END,
       x.entity, x.source_id, x.source_version, x.staging_id, x.submission_id,
       x.cost_rate_effective_date, x.cost_rate, -x.hours, -x.amount
FROM _revline x
JOIN doc USING (original_document_id)
LEFT JOIN line ON line.doc_key = doc.doc_key AND line.original_line_no = x.original_line_no
WHERE x.doc_type = 'journalEntry'
