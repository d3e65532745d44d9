-- What the rules found in this validation: one row per (rule, record), with the rendered reason.
CREATE TEMP TABLE _hit (
    rule_id     text   NOT NULL,
    severity    text   NOT NULL,
    remediation text   NOT NULL,
    staging_id  bigint NOT NULL,
    reason      text   NOT NULL
) ON COMMIT DROP
