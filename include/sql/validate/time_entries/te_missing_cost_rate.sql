-- No Workday cost rate is in effect on the work date, or the one in effect is not in the
-- currency of the entity that books the labour cost. Only for dates the worker was employed:
-- other dates are TE_INACTIVE_WORKER's.
SELECT c.staging_id,
       c.hcm_employee_id AS employee_id,
       c.work_date,
       CASE WHEN c.cost_rate IS NULL THEN 'no Workday cost rate is in effect'
            ELSE 'the cost rate in effect (from ' || c.cost_rate_effective_date::text
                 || ') is in ' || c.cost_rate_currency || ', but entity ' || c.entity_code
                 || ' books in ' || c.entity_currency
       END AS problem
FROM _current c
JOIN core.worker w ON w.psa_user_id = c.psa_user_id
WHERE c.work_date IS NOT NULL
  AND c.work_date >= w.hire_date
  AND (w.termination_date IS NULL OR c.work_date <= w.termination_date)
  AND (c.cost_rate IS NULL OR c.cost_rate_currency <> c.entity_currency)
