-- An expense without a category, or with one the mappings do not send to a NetSuite expense
-- category and GL account (include/mappings/expense_categories.yaml).
SELECT c.staging_id,
       c.amount,
       c.currency,
       CASE WHEN c.psa_category_id IS NULL THEN 'has no category'
            ELSE 'has category ' || c.psa_category_id
                 || ', which is not mapped to a NetSuite expense category'
       END AS problem
FROM _current c
LEFT JOIN core.expense_category_map m ON m.psa_category_id = c.psa_category_id
WHERE m.psa_category_id IS NULL
