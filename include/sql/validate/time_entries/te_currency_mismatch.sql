-- The entry is not in its workspace's currency.
SELECT c.staging_id, c.currency, c.psa_workspace_id AS workspace_id,
       p.currency AS project_currency
FROM _current c
JOIN core.project p ON p.psa_workspace_id = c.psa_workspace_id
WHERE c.currency <> p.currency
