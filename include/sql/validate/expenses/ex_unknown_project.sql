-- The expense's workspace is not one the PSA lists, or nothing links it to a CRM opportunity
-- or a NetSuite job.
SELECT c.staging_id,
       c.psa_workspace_id AS workspace_id,
       CASE WHEN p.psa_workspace_id IS NULL THEN 'is not a workspace in the PSA'
            ELSE 'has no CRM opportunity or NetSuite job linked in the PSA'
       END AS problem
FROM _current c
LEFT JOIN core.project p ON p.psa_workspace_id = c.psa_workspace_id
WHERE c.psa_workspace_id IS NOT NULL
  AND (p.psa_workspace_id IS NULL OR (p.crm_opportunity_id IS NULL AND p.erp_job_id IS NULL))
