-- An expense dated after the project closed, or on an archived project without a closing date.
SELECT c.staging_id,
       c.psa_workspace_id AS workspace_id,
       c.expense_date,
       CASE WHEN p.closed_on IS NULL THEN 'is archived'
            ELSE 'closed on ' || p.closed_on::text
                 || CASE WHEN p.archived THEN ' and is archived' ELSE '' END
       END AS closure
FROM _current c
JOIN core.project p ON p.psa_workspace_id = c.psa_workspace_id
WHERE c.expense_date IS NOT NULL
  AND (c.expense_date > p.closed_on OR (p.closed_on IS NULL AND p.archived))
