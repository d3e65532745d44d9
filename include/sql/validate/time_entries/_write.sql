-- The batch's current versions as typed canonical rows, accepted or held. A version already
-- taken into posted documents keeps its row as it is (re-validation never unposts).
INSERT INTO core.time_entry AS t (
    source_id, source_version, staging_id, state, psa_workspace_id, psa_user_id, psa_role_id,
    story_id, submission_id, work_date, minutes, billable, bill_rate_cents, currency,
    entity_code, hcm_employee_id, cost_rate, cost_rate_effective_date, posting_period_id,
    batch_id
)
SELECT c.source_id, c.source_version, c.staging_id,
       CASE WHEN o.held THEN 'held' ELSE 'accepted' END,
       c.psa_workspace_id, c.psa_user_id, c.psa_role_id, c.story_id, c.submission_id,
       c.work_date, c.minutes, c.billable, c.bill_rate_cents, c.currency, c.entity_code,
       c.hcm_employee_id, c.cost_rate, c.cost_rate_effective_date, c.posting_period_id,
       %(batch_id)s
FROM _current c
JOIN _outcome o ON o.staging_id = c.staging_id
ON CONFLICT (source_id, source_version) DO UPDATE
SET staging_id = EXCLUDED.staging_id,
    state = EXCLUDED.state,
    psa_workspace_id = EXCLUDED.psa_workspace_id,
    psa_user_id = EXCLUDED.psa_user_id,
    psa_role_id = EXCLUDED.psa_role_id,
    story_id = EXCLUDED.story_id,
    submission_id = EXCLUDED.submission_id,
    work_date = EXCLUDED.work_date,
    minutes = EXCLUDED.minutes,
    billable = EXCLUDED.billable,
    bill_rate_cents = EXCLUDED.bill_rate_cents,
    currency = EXCLUDED.currency,
    entity_code = EXCLUDED.entity_code,
    hcm_employee_id = EXCLUDED.hcm_employee_id,
    cost_rate = EXCLUDED.cost_rate,
    cost_rate_effective_date = EXCLUDED.cost_rate_effective_date,
    posting_period_id = EXCLUDED.posting_period_id,
    batch_id = EXCLUDED.batch_id,
    updated_at = now()
WHERE t.time_bill_document_id IS NULL AND t.journal_document_id IS NULL
