-- The ERP does not know the entry's project or worker yet: the workspace is linked to its CRM
-- deal but has no NetSuite job (a time bill's customer and a labour-cost line's project), or the
-- billable time's worker has no NetSuite employee (a time bill's employee). Master-data sync
-- creates them; until then the entry is held instead of being sent for NetSuite to refuse.
-- Workspaces linked to nothing at all are TE_UNKNOWN_PROJECT's, and users without a Workday
-- worker TE_UNKNOWN_WORKER's, so no entry is held twice for one cause.
SELECT c.staging_id,
       concat_ws(' and ',
                 CASE WHEN p.erp_job_id IS NULL
                      THEN 'workspace ' || c.psa_workspace_id || ' has no NetSuite job' END,
                 CASE WHEN c.billable AND w.erp_employee_id IS NULL
                      THEN 'PSA user ' || c.psa_user_id || ' has no NetSuite employee' END)
           AS problem
FROM _current c
JOIN core.project p ON p.psa_workspace_id = c.psa_workspace_id
JOIN core.worker w ON w.psa_user_id = c.psa_user_id
WHERE (p.erp_job_id IS NULL AND p.crm_opportunity_id IS NOT NULL)
   OR (c.billable AND w.erp_employee_id IS NULL AND w.hcm_employee_id IS NOT NULL
       AND w.hire_date IS NOT NULL)
