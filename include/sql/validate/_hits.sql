-- Runs one rule: the rule placeholder in the FROM clause is replaced by the rule's file (a
-- repository file, loaded by name; never text from a record or a user); every value is bound.
-- The rule selects staging_id and the facts its reason template names; the template
-- (rules.yaml) is rendered here: each placeholder becomes the rule row's column of that name,
-- and NULL reads "none".
INSERT INTO _hit (rule_id, severity, remediation, staging_id, reason)
SELECT %(rule_id)s, %(severity)s, %(remediation)s, f.staging_id,
       (SELECT string_agg(CASE WHEN m.part[1] IS NULL THEN m.part[2]
                               ELSE coalesce(f.facts ->> m.part[1], 'none') END,
                          '' ORDER BY m.n)
        FROM regexp_matches(%(reason)s, %(placeholder)s, 'g') WITH ORDINALITY AS m(part, n))
FROM (SELECT r.staging_id, to_jsonb(r) AS facts FROM ({rule}) AS r) AS f
