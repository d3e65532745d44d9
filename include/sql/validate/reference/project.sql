-- core.project: every PSA workspace (archived ones included) with its CRM opportunity and
-- NetSuite job from the workspace's Kantata external references (the latest per service), or
-- else the job whose externalId is the opportunity; the job's subsidiary gives the legal entity
-- and its class the practice (through the mapping tables). A workspace is closed when it is
-- archived or in one of Kantata's 4xx (completed, cancelled) statuses: its due date is then the
-- last day time may be logged.
INSERT INTO core.project (
    psa_workspace_id, title, currency, archived, closed_on, rate_card_id, require_time_approvals,
    crm_opportunity_id, erp_job_id, erp_customer_id, entity_code, practice_code,
    source_updated_at
)
WITH workspace AS (
    SELECT DISTINCT ON (doc ->> 'id') doc ->> 'id' AS id, doc
    FROM _ref_doc
    WHERE kind = 'workspace'
    ORDER BY doc ->> 'id'
), link AS (
    SELECT DISTINCT ON (doc ->> 'subject_id', doc ->> 'service_name')
           doc ->> 'subject_id' AS workspace_id,
           doc ->> 'service_name' AS service,
           doc ->> 'service_model_ref' AS ref
    FROM _ref_doc
    WHERE kind = 'reference'
      AND doc ->> 'subject_type' = 'Workspace'
      AND (doc ->> 'service_name', lower(doc ->> 'service_model'))
          IN (('Salesforce', 'opportunity'), ('NetSuite', 'job'))
    ORDER BY doc ->> 'subject_id', doc ->> 'service_name',
             length(doc ->> 'id') DESC, doc ->> 'id' DESC
), job AS (
    SELECT DISTINCT ON (doc ->> 'id')
           doc ->> 'id' AS id,
           doc ->> 'externalid' AS external_id,
           doc ->> 'subsidiary' AS subsidiary_id,
           doc ->> 'class' AS class_id,
           doc ->> 'parent' AS customer_id
    FROM _ref_doc
    WHERE kind = 'job'
    ORDER BY doc ->> 'id'
), linked AS (
    SELECT w.id,
           w.doc,
           crm.ref AS opportunity_id,
           coalesce(
               ns.ref,
               (SELECT j.id FROM job j WHERE j.external_id = crm.ref ORDER BY j.id LIMIT 1)
           ) AS job_id,
           coalesce(w.doc -> 'archived' = 'true'::jsonb, false) AS archived,
           coalesce(w.doc #>> '{status,key}' ~ '^4[0-9]{2}$', false) AS closed_status
    FROM workspace w
    LEFT JOIN link crm ON crm.workspace_id = w.id AND crm.service = 'Salesforce'
    LEFT JOIN link ns ON ns.workspace_id = w.id AND ns.service = 'NetSuite'
)
SELECT l.id,
       l.doc ->> 'title',
       CASE WHEN l.doc ->> 'currency' ~ '^[A-Z]{3}$' THEN l.doc ->> 'currency' END,
       l.archived,
       CASE WHEN l.archived OR l.closed_status THEN staging.try_date(l.doc ->> 'due_date') END,
       l.doc ->> 'rate_card_id',
       (l.doc -> 'require_time_approvals') = 'true'::jsonb,
       l.opportunity_id,
       l.job_id,
       j.customer_id,
       e.entity_code,
       d.code,
       staging.try_timestamptz(l.doc ->> 'updated_at')
FROM linked l
LEFT JOIN job j ON j.id = l.job_id
LEFT JOIN core.entity_map e ON e.subsidiary_id = j.subsidiary_id
LEFT JOIN core.dimension_map d ON d.dimension = 'class' AND d.erp_id = j.class_id
