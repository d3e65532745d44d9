INSERT INTO posting.document_line (
    document_id, line_no, account_id, debit, credit, hours, amount, memo, dims
)
SELECT d.document_id, l.line_no, l.account_id, l.debit, l.credit, l.hours, l.amount, l.memo,
       l.dims
FROM _line l
JOIN _doc d USING (doc_key)
ORDER BY d.document_id, l.line_no
