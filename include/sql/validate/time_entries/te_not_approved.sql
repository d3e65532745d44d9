-- Only approved time posts. Staging asks the PSA for approved entries only, so this guards
-- against an extraction that did not (or an entry unapproved between pages).
SELECT staging_id, coalesce(raw_approved::text, 'missing') AS approved
FROM _current
WHERE raw_approved IS DISTINCT FROM 'true'::jsonb
