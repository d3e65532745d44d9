-- Each current version's outcome: held when any error-severity rule fired on it (warnings
-- pass with their exception row). A version already in posted documents stays accepted.
CREATE TEMP TABLE _outcome ON COMMIT DROP AS
SELECT c.staging_id,
       NOT c.posted AND EXISTS (
           SELECT 1 FROM _hit h WHERE h.staging_id = c.staging_id AND h.severity = 'error'
       ) AS held
FROM _current c
