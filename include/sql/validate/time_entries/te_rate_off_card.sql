-- Billable time at a rate other than the workspace's rate card gives the entry's role on the
-- work date (the card version in force that day), or with no card rate at all. A malformed
-- rate is TE_MALFORMED's.
SELECT c.staging_id,
       c.bill_rate_cents AS rate_in_cents,
       p.rate_card_id,
       card.rate_in_cents AS card_rate,
       c.psa_role_id AS role_id,
       c.work_date
FROM _current c
JOIN core.project p ON p.psa_workspace_id = c.psa_workspace_id
LEFT JOIN LATERAL (
    SELECT b.rate_in_cents
    FROM core.bill_rate b
    WHERE b.rate_card_id = p.rate_card_id
      AND b.psa_role_id = c.psa_role_id
      AND b.effective_date <= c.work_date
      AND (b.end_date IS NULL OR b.end_date >= c.work_date)
    ORDER BY b.effective_date DESC
    LIMIT 1
) card ON true
WHERE c.billable
  AND c.work_date IS NOT NULL
  AND c.psa_role_id IS NOT NULL
  AND (c.bill_rate_cents IS NOT NULL OR coalesce(c.raw_rate, 'null') = 'null')
  AND card.rate_in_cents IS DISTINCT FROM c.bill_rate_cents
