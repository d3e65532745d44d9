-- core.accounting_period: NetSuite accounting periods (SuiteQL, dates as TO_CHAR YYYY-MM-DD,
-- booleans 'T'/'F'). Quarters, years and adjustment periods are kept but are not posting
-- periods: validation posts in months only.
INSERT INTO core.accounting_period (erp_period_id, period_name, start_date, end_date, closed,
                                    is_posting)
SELECT DISTINCT ON (doc ->> 'id')
       doc ->> 'id',
       coalesce(doc ->> 'periodname', doc ->> 'id'),
       staging.try_date(doc ->> 'start_date'),
       staging.try_date(doc ->> 'end_date'),
       doc ->> 'closed' = 'T',
       doc ->> 'isposting' = 'T' AND coalesce(doc ->> 'isadjust', 'F') = 'F'
FROM _ref_doc
WHERE kind = 'period'
  AND doc ->> 'closed' IN ('T', 'F')
  AND staging.try_date(doc ->> 'start_date') IS NOT NULL
  AND staging.try_date(doc ->> 'end_date') IS NOT NULL
ORDER BY doc ->> 'id'
