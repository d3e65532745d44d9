-- Time dated after the run's as-of date (today in the entity's time zone unless given).
SELECT staging_id, work_date, as_of_date
FROM _current
WHERE work_date > as_of_date
