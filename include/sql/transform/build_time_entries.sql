-- Accepted time entry versions not yet on their documents: billable ones need a time bill,
-- every one a labour-cost journal. References are resolved here, once:
--   employee    core.worker.erp_employee_id
--   job, class  the project's ERP job and practice (core.dimension_map 'class')
--   item        core.service_item_map by practice and PSA role
--   department  the worker's HCM assignment on the work date (core.dimension_map 'department')
--   period      the one validation chose (posting_period_id), else the open posting period of
--               the work date, or under the entity's next_open policy the first open one after
--               it; tran_date is then that period's first day (deferred).
INSERT INTO _te (
    source_id, source_version, staging_id, submission_id, work_date, minutes, hours, billable,
    bill_rate, bill_currency, entity_code, cost_rate, cost_rate_effective_date, needs_time_bill,
    needs_journal, employee_id, job_id, item_id, class_id, department_id, subsidiary_id,
    currency, currency_id, posting_period_id, tran_date, deferred, labour_account_id,
    clearing_account_id
)
SELECT te.source_id,
       te.source_version,
       te.staging_id,
       te.submission_id,
       te.work_date,
       te.minutes,
       round(te.minutes / 60.0, 4),
       te.billable,
       te.bill_rate_cents / 100.0,
       te.currency,
       te.entity_code,
       te.cost_rate,
       te.cost_rate_effective_date,
       coalesce(te.billable, false) AND te.time_bill_document_id IS NULL,
       te.journal_document_id IS NULL,
       w.erp_employee_id,
       p.erp_job_id,
       item.item_id,
       class.erp_id,
       department.erp_id,
       em.subsidiary_id,
       em.currency,
       em.currency_id,
       period.erp_period_id,
       greatest(te.work_date, period.start_date),
       coalesce(period.start_date > te.work_date, false),
       labour.account_id,
       clearing.account_id
FROM core.time_entry te
LEFT JOIN core.worker w ON w.psa_user_id = te.psa_user_id
LEFT JOIN core.project p ON p.psa_workspace_id = te.psa_workspace_id
LEFT JOIN core.service_item_map item
       ON item.practice_code = p.practice_code AND item.psa_role_id = te.psa_role_id
LEFT JOIN core.dimension_map class ON class.dimension = 'class' AND class.code = p.practice_code
LEFT JOIN LATERAL (
    SELECT a.department_name
    FROM core.worker_assignment a
    WHERE a.hcm_employee_id = coalesce(te.hcm_employee_id, w.hcm_employee_id)
      AND a.effective_date <= te.work_date
      AND (a.end_date IS NULL OR a.end_date >= te.work_date)
    ORDER BY a.effective_date DESC
    LIMIT 1
) assignment ON true
LEFT JOIN core.dimension_map department
       ON department.dimension = 'department' AND department.name = assignment.department_name
LEFT JOIN core.entity_map em ON em.entity_code = te.entity_code
LEFT JOIN core.gl_account_map labour
       ON labour.entity_code = te.entity_code AND labour.account_role = 'labour_cost'
LEFT JOIN core.gl_account_map clearing
       ON clearing.entity_code = te.entity_code AND clearing.account_role = 'cost_clearing'
LEFT JOIN LATERAL (
    SELECT ap.erp_period_id, ap.start_date
    FROM core.accounting_period ap
    WHERE CASE
              WHEN te.posting_period_id IS NOT NULL THEN ap.erp_period_id = te.posting_period_id
              ELSE ap.is_posting AND NOT ap.closed AND ap.end_date >= te.work_date
                   AND (ap.start_date <= te.work_date OR em.closed_period_policy = 'next_open')
          END
    ORDER BY ap.start_date
    LIMIT 1
) period ON true
WHERE te.state = 'accepted'
  AND ((coalesce(te.billable, false) AND te.time_bill_document_id IS NULL)
       OR te.journal_document_id IS NULL)
  AND (%(entities)s::text[] IS NULL OR te.entity_code = ANY (%(entities)s::text[]))
