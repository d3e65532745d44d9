-- Values the PSA must never send: an expense date that is not a calendar date written
-- YYYY-MM-DD, an amount that is not a whole number of cents, a missing workspace or user,
-- billable/reimbursable flags that are not true/false, a currency that is not an ISO code, a
-- NUL character. A value is quoted only when it is digits and date punctuation.
SELECT staging_id, problems
FROM (
    SELECT c.staging_id,
           concat_ws('; ',
               CASE WHEN c.expense_date IS NULL THEN
                   'date '
                   || CASE WHEN c.raw_date IS NULL THEN 'is missing'
                           WHEN c.raw_date ~ '^[0-9 ./:+-]{1,20}$' THEN '''' || c.raw_date || ''''
                           ELSE '(text)' END
                   || ' is not a calendar date written YYYY-MM-DD'
               END,
               CASE WHEN c.amount_cents IS NULL THEN
                   'amount_in_cents '
                   || CASE WHEN c.raw_amount IS NULL OR c.raw_amount = 'null' THEN '(missing)'
                           WHEN (c.raw_amount #>> '{}') ~ '^[0-9 ./:+-]{1,20}$'
                               THEN '''' || (c.raw_amount #>> '{}') || ''''
                           ELSE '(a ' || jsonb_typeof(c.raw_amount) || ')' END
                   || ' is not a whole number of cents'
               END,
               CASE WHEN c.psa_workspace_id IS NULL THEN 'workspace_id is missing' END,
               CASE WHEN c.psa_user_id IS NULL THEN 'user_id is missing' END,
               CASE WHEN c.billable IS NULL THEN 'is_billable is not true or false' END,
               CASE WHEN c.reimbursable IS NULL THEN 'reimbursable is not true or false' END,
               CASE WHEN c.currency IS NULL THEN 'currency is not an ISO 4217 code' END,
               CASE WHEN c.has_nul THEN 'a text field contains a NUL character' END
           ) AS problems
    FROM _current c
) m
WHERE problems <> ''
