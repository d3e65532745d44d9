-- Only approved expenses post. Staging asks the PSA for approved expenses only, so this
-- guards against an extraction that did not.
SELECT staging_id, coalesce(raw_approved::text, 'missing') AS approved
FROM _current
WHERE raw_approved IS DISTINCT FROM 'true'::jsonb
