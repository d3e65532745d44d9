-- An expense dated in a closed NetSuite accounting period, under the entity's
-- closed_period_policy: `hold` holds it here; `next_open` posts it in the next open period,
-- so this fires only when no later period is open.
SELECT c.staging_id,
       c.expense_date,
       c.period_name,
       CASE WHEN c.entity_code IS NULL
                THEN 'the legal entity of the project is not known, so the expense is held'
            WHEN c.closed_period_policy = 'next_open'
                THEN 'entity ' || c.entity_code
                     || ' posts such expenses in the next open period, but none is open after it'
            ELSE 'entity ' || c.entity_code || ' holds expenses dated in a closed period'
       END AS policy
FROM _current c
WHERE c.period_closed AND c.posting_period_id IS NULL
