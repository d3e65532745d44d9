-- core.worker: every PSA user with their Workday worker and NetSuite employee from the user's
-- Kantata external references (the latest per service), or else the NetSuite employee whose
-- externalId is the Employee_ID; hire and termination (last day worked) dates from Workday's
-- PSA_Workers report.
INSERT INTO core.worker (psa_user_id, hcm_employee_id, erp_employee_id, hire_date, termination_date)
WITH psa_user AS (
    SELECT DISTINCT doc ->> 'id' AS id
    FROM _ref_doc
    WHERE kind = 'user'
), link AS (
    SELECT DISTINCT ON (doc ->> 'subject_id', doc ->> 'service_name')
           doc ->> 'subject_id' AS user_id,
           doc ->> 'service_name' AS service,
           doc ->> 'service_model_ref' AS ref
    FROM _ref_doc
    WHERE kind = 'reference'
      AND doc ->> 'subject_type' = 'User'
      AND (doc ->> 'service_name', lower(doc ->> 'service_model'))
          IN (('Workday', 'worker'), ('NetSuite', 'employee'))
    ORDER BY doc ->> 'subject_id', doc ->> 'service_name',
             length(doc ->> 'id') DESC, doc ->> 'id' DESC
), hcm AS (
    SELECT DISTINCT ON (doc ->> 'Employee_ID')
           doc ->> 'Employee_ID' AS employee_id,
           -- Workday may write dates with the tenant's offset (2026-10-15-07:00).
           staging.try_date(left(doc ->> 'Hire_Date', 10)) AS hire_date,
           staging.try_date(left(doc ->> 'Termination_Date', 10)) AS termination_date
    FROM _ref_doc
    WHERE kind = 'hcm_worker'
    ORDER BY doc ->> 'Employee_ID'
), employee AS (
    SELECT DISTINCT ON (doc ->> 'externalid')
           doc ->> 'externalid' AS employee_id,
           doc ->> 'id' AS id
    FROM _ref_doc
    WHERE kind = 'employee' AND doc ->> 'externalid' IS NOT NULL
    ORDER BY doc ->> 'externalid', length(doc ->> 'id'), doc ->> 'id'
), worker AS (
    SELECT u.id AS psa_user_id,
           wd.ref AS hcm_employee_id,
           ns.ref AS erp_employee_id,
           -- hcm_employee_id is unique: a Workday worker linked to two PSA users stays with
           -- the first, and the other user's records are held as of an unknown worker.
           row_number() OVER (PARTITION BY wd.ref ORDER BY length(u.id), u.id) AS link_rank
    FROM psa_user u
    LEFT JOIN link wd ON wd.user_id = u.id AND wd.service = 'Workday'
    LEFT JOIN link ns ON ns.user_id = u.id AND ns.service = 'NetSuite'
)
SELECT w.psa_user_id,
       CASE WHEN w.link_rank = 1 THEN w.hcm_employee_id END,
       coalesce(w.erp_employee_id, e.id),
       h.hire_date,
       h.termination_date
FROM worker w
LEFT JOIN hcm h ON h.employee_id = w.hcm_employee_id AND w.link_rank = 1
LEFT JOIN employee e ON e.employee_id = w.hcm_employee_id
