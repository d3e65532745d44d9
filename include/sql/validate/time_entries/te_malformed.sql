-- Values the PSA must never send: a work date that is not a calendar date written YYYY-MM-DD,
-- minutes or a rate that are not whole numbers, a missing workspace, user or role, a billable
-- flag that is not true/false, a currency that is not an ISO code, a NUL character. A value is
-- quoted only when it is digits and date punctuation: it could be anything, personal data too.
SELECT staging_id, problems
FROM (
    SELECT c.staging_id,
           concat_ws('; ',
               CASE WHEN c.work_date IS NULL THEN
                   'date_performed '
                   || CASE WHEN c.raw_date IS NULL THEN 'is missing'
                           WHEN c.raw_date ~ '^[0-9 ./:+-]{1,20}$' THEN '''' || c.raw_date || ''''
                           ELSE '(text)' END
                   || ' is not a calendar date written YYYY-MM-DD'
               END,
               CASE WHEN c.minutes IS NULL THEN
                   'time_in_minutes '
                   || CASE WHEN c.raw_minutes IS NULL OR c.raw_minutes = 'null' THEN '(missing)'
                           WHEN (c.raw_minutes #>> '{}') ~ '^[0-9 ./:+-]{1,20}$'
                               THEN '''' || (c.raw_minutes #>> '{}') || ''''
                           ELSE '(a ' || jsonb_typeof(c.raw_minutes) || ')' END
                   || ' is not a whole number of minutes'
               END,
               CASE WHEN c.psa_workspace_id IS NULL THEN 'workspace_id is missing' END,
               CASE WHEN c.psa_user_id IS NULL THEN 'user_id is missing' END,
               CASE WHEN c.psa_role_id IS NULL THEN 'role_id is missing' END,
               CASE WHEN c.bill_rate_cents IS NULL AND coalesce(c.raw_rate, 'null') <> 'null' THEN
                   'rate_in_cents '
                   || CASE WHEN (c.raw_rate #>> '{}') ~ '^[0-9 ./:+-]{1,20}$'
                               THEN '''' || (c.raw_rate #>> '{}') || ''''
                           ELSE '(a ' || jsonb_typeof(c.raw_rate) || ')' END
                   || ' is not a whole number of cents'
               END,
               CASE WHEN c.billable IS NULL THEN 'billable is not true or false' END,
               CASE WHEN c.currency IS NULL THEN 'currency is not an ISO 4217 code' END,
               CASE WHEN c.has_nul THEN 'a text field contains a NUL character' END
           ) AS problems
    FROM _current c
) m
WHERE problems <> ''
