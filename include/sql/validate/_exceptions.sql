-- One open exception per record and rule (ops.exception_open_uq): a rule firing again on the
-- same record refreshes the open row (reason, version, batch, last_seen_at), never adds one.
INSERT INTO ops.exception AS e (
    source_system, entity, source_id, source_version, rule_id, severity, reason, remediation,
    legal_entity, amount, minutes, batch_id, staging_id
)
SELECT DISTINCT ON (c.source_id, h.rule_id)
       %(source_system)s, %(entity)s, c.source_id, c.source_version, h.rule_id, h.severity,
       h.reason, h.remediation, c.entity_code, c.amount, c.minutes, %(batch_id)s, c.staging_id
FROM _hit h
JOIN _current c ON c.staging_id = h.staging_id
WHERE NOT c.posted
ORDER BY c.source_id, h.rule_id, h.reason
ON CONFLICT (source_system, entity, source_id, rule_id) WHERE status = 'open' DO UPDATE
SET source_version = EXCLUDED.source_version,
    severity = EXCLUDED.severity,
    reason = EXCLUDED.reason,
    remediation = EXCLUDED.remediation,
    legal_entity = EXCLUDED.legal_entity,
    amount = EXCLUDED.amount,
    minutes = EXCLUDED.minutes,
    batch_id = EXCLUDED.batch_id,
    staging_id = EXCLUDED.staging_id,
    last_seen_at = now()
