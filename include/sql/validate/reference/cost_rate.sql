-- core.cost_rate: every effective-dated cost-rate version of Workday's PSA_Worker_Cost_Rates
-- report. A version without an employee, a valid effective date, an hourly rate or a currency
-- cannot cost time and is left out (the loader logs how many); time on its dates is then held
-- as TE_MISSING_COST_RATE.
INSERT INTO core.cost_rate (hcm_employee_id, effective_date, end_date, hourly_cost, currency,
                            last_updated)
SELECT DISTINCT ON (r.employee_id, r.effective_date)
       r.employee_id, r.effective_date, r.end_date, r.hourly_cost, r.currency, r.last_updated
FROM (
    SELECT nullif(doc ->> 'Employee_ID', '') AS employee_id,
           staging.try_date(left(doc ->> 'Effective_Date', 10)) AS effective_date,
           staging.try_date(left(doc ->> 'End_Date', 10)) AS end_date,
           CASE WHEN doc ->> 'Hourly_Cost_Rate' ~ '^[0-9]{1,8}(\.[0-9]{1,4})?$'
                THEN (doc ->> 'Hourly_Cost_Rate')::numeric(12, 4) END AS hourly_cost,
           CASE WHEN doc ->> 'Currency' ~ '^[A-Z]{3}$' THEN doc ->> 'Currency' END AS currency,
           doc ->> 'Last_Updated' AS last_updated
    FROM _ref_doc
    WHERE kind = 'hcm_cost_rate'
) r
WHERE r.employee_id IS NOT NULL AND r.effective_date IS NOT NULL
  AND r.hourly_cost IS NOT NULL AND r.currency IS NOT NULL
ORDER BY r.employee_id, r.effective_date, r.last_updated DESC NULLS LAST
