-- Control totals of this build per document type, legal entity, period and currency.
SELECT d.doc_type, d.entity_code, d.posting_period_id, d.currency,
       count(*) AS documents,
       count(*) FILTER (WHERE d.reverses_document_id IS NOT NULL) AS reversals,
       sum(l.lines) AS lines,
       coalesce(sum(d.control_hours), 0) AS hours,
       coalesce(sum(d.control_amount), 0) AS amount
FROM _doc d
JOIN (SELECT doc_key, count(*) AS lines FROM _line GROUP BY doc_key) l USING (doc_key)
GROUP BY d.doc_type, d.entity_code, d.posting_period_id, d.currency
ORDER BY d.doc_type, d.entity_code, d.posting_period_id, d.currency
