-- The batch's current versions as typed canonical rows, accepted or held. A version already
-- taken into a posted expense report keeps its row as it is (re-validation never unposts).
INSERT INTO core.expense AS x (
    source_id, source_version, staging_id, state, psa_workspace_id, psa_user_id, submission_id,
    expense_date, amount_cents, currency, psa_category_id, billable, reimbursable, receipt_id,
    entity_code, posting_period_id, batch_id
)
SELECT c.source_id, c.source_version, c.staging_id,
       CASE WHEN o.held THEN 'held' ELSE 'accepted' END,
       c.psa_workspace_id, c.psa_user_id, c.submission_id, c.expense_date, c.amount_cents,
       c.currency, c.psa_category_id, c.billable, c.reimbursable, c.receipt_id, c.entity_code,
       c.posting_period_id, %(batch_id)s
FROM _current c
JOIN _outcome o ON o.staging_id = c.staging_id
ON CONFLICT (source_id, source_version) DO UPDATE
SET staging_id = EXCLUDED.staging_id,
    state = EXCLUDED.state,
    psa_workspace_id = EXCLUDED.psa_workspace_id,
    psa_user_id = EXCLUDED.psa_user_id,
    submission_id = EXCLUDED.submission_id,
    expense_date = EXCLUDED.expense_date,
    amount_cents = EXCLUDED.amount_cents,
    currency = EXCLUDED.currency,
    psa_category_id = EXCLUDED.psa_category_id,
    billable = EXCLUDED.billable,
    reimbursable = EXCLUDED.reimbursable,
    receipt_id = EXCLUDED.receipt_id,
    entity_code = EXCLUDED.entity_code,
    posting_period_id = EXCLUDED.posting_period_id,
    batch_id = EXCLUDED.batch_id,
    updated_at = now()
WHERE x.expense_report_document_id IS NULL
