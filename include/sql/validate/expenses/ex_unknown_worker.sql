-- The expense's user is not a PSA user or has no Workday worker linked: nobody to reimburse.
SELECT c.staging_id,
       c.psa_user_id AS user_id,
       CASE WHEN w.psa_user_id IS NULL THEN 'is not a user in the PSA'
            ELSE 'has no Workday worker linked in the PSA'
       END AS problem
FROM _current c
LEFT JOIN core.worker w ON w.psa_user_id = c.psa_user_id
WHERE c.psa_user_id IS NOT NULL
  AND (w.psa_user_id IS NULL OR w.hcm_employee_id IS NULL)
