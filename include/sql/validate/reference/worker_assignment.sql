-- core.worker_assignment: every effective-dated assignment version of Workday's
-- PSA_Worker_Assignments report (legal entity = Company). Versions without an employee or a
-- valid effective date cannot be placed and are left out (the loader logs how many).
INSERT INTO core.worker_assignment (
    hcm_employee_id, effective_date, end_date, entity_code, department_name, cost_center,
    job_profile
)
SELECT DISTINCT ON (a.employee_id, a.effective_date)
       a.employee_id, a.effective_date, a.end_date, a.company, a.department, a.cost_center,
       a.job_profile
FROM (
    SELECT nullif(doc ->> 'Employee_ID', '') AS employee_id,
           staging.try_date(left(doc ->> 'Effective_Date', 10)) AS effective_date,
           staging.try_date(left(doc ->> 'End_Date', 10)) AS end_date,
           nullif(doc ->> 'Company', '') AS company,
           nullif(doc ->> 'Department', '') AS department,
           nullif(doc ->> 'Cost_Center', '') AS cost_center,
           nullif(doc ->> 'Job_Profile', '') AS job_profile,
           doc ->> 'Last_Updated' AS last_updated
    FROM _ref_doc
    WHERE kind = 'hcm_assignment'
) a
WHERE a.employee_id IS NOT NULL AND a.effective_date IS NOT NULL
ORDER BY a.employee_id, a.effective_date, a.last_updated DESC NULLS LAST
