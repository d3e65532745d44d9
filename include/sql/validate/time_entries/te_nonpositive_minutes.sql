-- An entry of zero or negative minutes (corrections are new versions, not negative entries).
SELECT staging_id, minutes
FROM _current
WHERE minutes <= 0
