-- The entry's user is not a PSA user, has no Workday worker linked, or is linked to a worker
-- Workday does not list: no employment dates or cost rate to check the time against.
SELECT c.staging_id,
       c.psa_user_id AS user_id,
       CASE WHEN w.psa_user_id IS NULL THEN 'is not a user in the PSA'
            WHEN w.hcm_employee_id IS NULL THEN 'has no Workday worker linked in the PSA'
            ELSE 'is linked to Workday worker ' || w.hcm_employee_id
                 || ', whom Workday''s PSA_Workers report does not list'
       END AS problem
FROM _current c
LEFT JOIN core.worker w ON w.psa_user_id = c.psa_user_id
WHERE c.psa_user_id IS NOT NULL
  AND (w.psa_user_id IS NULL OR w.hcm_employee_id IS NULL OR w.hire_date IS NULL)
