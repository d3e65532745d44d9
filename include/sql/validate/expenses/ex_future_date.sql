-- An expense dated after the run's as-of date (today in the entity's time zone unless given).
SELECT staging_id, expense_date, as_of_date
FROM _current
WHERE expense_date > as_of_date
