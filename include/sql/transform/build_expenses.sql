-- Accepted expense versions without an expense report, references resolved as for time
-- (build_time_entries.sql); the category gives the ERP expense category and its GL account.
INSERT INTO _ex (
    source_id, source_version, staging_id, submission_id, expense_date, amount, currency,
    currency_id, billable, reimbursable, entity_code, subsidiary_id, employee_id, job_id,
    category_id, gl_account_id, class_id, department_id, posting_period_id, tran_date, deferred
)
SELECT ex.source_id,
       ex.source_version,
       ex.staging_id,
       ex.submission_id,
       ex.expense_date,
       ex.amount_cents / 100.0,
       ex.currency,
       currency.currency_id,
       ex.billable,
       ex.reimbursable,
       ex.entity_code,
       em.subsidiary_id,
       w.erp_employee_id,
       p.erp_job_id,
       category.erp_expense_category_id,
       category.gl_account_id,
       class.erp_id,
       department.erp_id,
       period.erp_period_id,
       greatest(ex.expense_date, period.start_date),
       coalesce(period.start_date > ex.expense_date, false)
FROM core.expense ex
LEFT JOIN core.worker w ON w.psa_user_id = ex.psa_user_id
LEFT JOIN core.project p ON p.psa_workspace_id = ex.psa_workspace_id
LEFT JOIN core.expense_category_map category ON category.psa_category_id = ex.psa_category_id
LEFT JOIN core.dimension_map class ON class.dimension = 'class' AND class.code = p.practice_code
LEFT JOIN LATERAL (
    SELECT a.department_name
    FROM core.worker_assignment a
    WHERE a.hcm_employee_id = w.hcm_employee_id
      AND a.effective_date <= ex.expense_date
      AND (a.end_date IS NULL OR a.end_date >= ex.expense_date)
    ORDER BY a.effective_date DESC
    LIMIT 1
) assignment ON true
LEFT JOIN core.dimension_map department
       ON department.dimension = 'department' AND department.name = assignment.department_name
LEFT JOIN core.entity_map em ON em.entity_code = ex.entity_code
-- The expense's own currency may be another entity's functional one.
LEFT JOIN LATERAL (
    SELECT m.currency_id
    FROM core.entity_map m
    WHERE m.currency = ex.currency AND m.currency_id IS NOT NULL
    ORDER BY m.entity_code
    LIMIT 1
) currency ON true
LEFT JOIN LATERAL (
    SELECT ap.erp_period_id, ap.start_date
    FROM core.accounting_period ap
    WHERE CASE
              WHEN ex.posting_period_id IS NOT NULL THEN ap.erp_period_id = ex.posting_period_id
              ELSE ap.is_posting AND NOT ap.closed AND ap.end_date >= ex.expense_date
                   AND (ap.start_date <= ex.expense_date OR em.closed_period_policy = 'next_open')
          END
    ORDER BY ap.start_date
    LIMIT 1
) period ON true
WHERE ex.state = 'accepted'
  AND ex.expense_report_document_id IS NULL
  AND (%(entities)s::text[] IS NULL OR ex.entity_code = ANY (%(entities)s::text[]))
