-- Time dated before the worker's hire date or after their termination date (Workday's
-- termination date is the last day worked).
SELECT c.staging_id,
       w.hcm_employee_id AS employee_id,
       c.work_date,
       CASE WHEN c.work_date < w.hire_date THEN 'starts on ' || w.hire_date::text
            ELSE 'was terminated on ' || w.termination_date::text || ' (last day worked)'
       END AS employment
FROM _current c
JOIN core.worker w ON w.psa_user_id = c.psa_user_id
WHERE c.work_date IS NOT NULL
  AND (c.work_date < w.hire_date OR c.work_date > w.termination_date)
