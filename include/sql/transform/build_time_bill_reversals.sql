-- Reversing time bills: the entry's next PS-TB-<id>-<n> with the original's references and
-- rate and negative hours, dated in the current open period.
-- Earlier time bills are counted per entry through the lineage's source index, whatever the
-- size of the lineage and the state of its statistics.
WITH earlier AS (
    SELECT s.source_id,
           (SELECT count(DISTINCT l.document_id)
            FROM posting.lineage l
            JOIN posting.document d ON d.document_id = l.document_id
            WHERE l.source_system = 'psa'
              AND l.entity = 'time_entries'
              AND l.source_id = s.source_id
              AND d.doc_type = 'timeBill') AS time_bills
    FROM (SELECT DISTINCT source_id FROM _revline WHERE doc_type = 'timeBill') s
),
reversed AS (
    SELECT x.*, d.entity_code, d.currency, d.external_id AS original_external_id, d.body,
           format('2|%%s|%%s|%%s|%%s', d.entity_code, to_char(%(tran_date)s::date, 'YYYYMMDD'),
                  x.source_id, lpad(d.document_id::text, 19, '0')) AS doc_key,
           coalesce(earlier.time_bills, 0)
               + row_number() OVER (PARTITION BY x.source_id ORDER BY d.document_id) AS n
    FROM _revline x
    JOIN posting.document d ON d.document_id = x.original_document_id
    LEFT JOIN earlier ON earlier.source_id = x.source_id
    WHERE x.doc_type = 'timeBill'
),
new_doc AS (
    INSERT INTO _doc (
        doc_key, doc_type, external_id, id_suffix, entity_code, posting_period_id, tran_date,
        currency, reverses_document_id, header, sublist, control_hours, control_amount
    )
    SELECT doc_key, 'timeBill', format('PS-TB-%%s-%%s', source_id, n), false, entity_code,
           %(period_id)s, %(tran_date)s, currency, original_document_id,
           (body - 'externalId')
               || jsonb_build_object(
                      'tranDate', %(tran_date)s::date,
                      'hours', -(body -> 'hours')::numeric,
                      'memo', format('Reverses %%s: PSA time entry %%s %%s at the source',
                                     original_external_id, source_id,
                                     CASE state WHEN 'deleted' THEN 'deleted'
                                                ELSE 'changed' END)),
           NULL, -hours, -amount
    FROM reversed
),
new_line AS (
    INSERT INTO _line (doc_key, line_no, account_id, debit, credit, hours, amount, memo, dims)
    SELECT doc_key, 1, NULL, NULL, NULL, -hours, -amount,
           format('Reverses %%s', original_external_id), dims
    FROM reversed
)
INSERT INTO _lineage (
    doc_key, line_no, entity, source_id, source_version, staging_id, submission_id,
    cost_rate_effective_date, cost_rate, hours, amount
)
SELECT doc_key, 1, entity, source_id, source_version, staging_id, submission_id,
       cost_rate_effective_date, cost_rate, -hours, -amount
FROM reversed
