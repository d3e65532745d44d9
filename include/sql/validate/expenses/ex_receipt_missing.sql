-- An expense over the entity's receipt threshold (legal_entities.yaml) without a receipt.
SELECT c.staging_id, c.amount, c.currency, c.receipt_threshold AS threshold, c.entity_code
FROM _current c
WHERE c.receipt_id IS NULL
  AND c.amount > c.receipt_threshold
