-- Reference data the approved-time pipeline validates and transforms against
-- (docs/design/approved-time-expense.md §1). Loaded per run; keys are the source systems' ids.

-- Mapping tables: include/mappings/*.yaml as rows (ps_sync.mappings.Mappings.rows()).
CREATE TABLE core.entity_map (
    entity_code          text PRIMARY KEY,
    entity_name          text NOT NULL,
    subsidiary_id        text NOT NULL,
    currency             char(3) NOT NULL,
    currency_id          text,
    country              text,
    time_zone            text NOT NULL,
    closed_period_policy text NOT NULL CHECK (closed_period_policy IN ('hold', 'next_open')),
    receipt_threshold    numeric(18, 2) NOT NULL
);
CREATE TABLE core.gl_account_map (
    entity_code    text NOT NULL,
    account_role   text NOT NULL,            -- labour_cost, cost_clearing, unbilled_wip, ...
    account_id     text NOT NULL,
    account_number text,
    PRIMARY KEY (entity_code, account_role)
);
CREATE TABLE core.service_item_map (
    practice_code text NOT NULL,
    role_name     text NOT NULL,
    psa_role_id   text NOT NULL,
    item_id       text NOT NULL,
    item_code     text,
    PRIMARY KEY (practice_code, psa_role_id)
);
CREATE TABLE core.expense_category_map (
    psa_category_id         text PRIMARY KEY,
    psa_category_name       text NOT NULL,
    erp_expense_category_id text NOT NULL,
    gl_account_id           text NOT NULL,
    gl_account_number       text
);
CREATE TABLE core.dimension_map (
    dimension text NOT NULL CHECK (dimension IN ('class', 'department')),
    code      text NOT NULL,
    name      text NOT NULL,
    erp_id    text NOT NULL,
    PRIMARY KEY (dimension, code)
);

-- Projects: PSA workspaces with their CRM deal and ERP job (from Kantata external references).
CREATE TABLE core.project (
    psa_workspace_id        text PRIMARY KEY,
    title                   text,
    currency                char(3),
    archived                boolean NOT NULL DEFAULT false,
    closed_on               date,                  -- last day time may be logged, when closed
    rate_card_id            text,
    require_time_approvals  boolean,
    crm_opportunity_id      text,
    erp_job_id              text,
    erp_customer_id         text,
    entity_code             text,                  -- from the ERP job's subsidiary
    practice_code           text,                  -- from the ERP job's class
    source_updated_at       timestamptz,
    loaded_at               timestamptz NOT NULL DEFAULT now()
);

-- People: PSA users with their Workday worker and NetSuite employee.
CREATE TABLE core.worker (
    psa_user_id       text PRIMARY KEY,
    hcm_employee_id   text UNIQUE,
    erp_employee_id   text,
    hire_date         date,
    termination_date  date,                        -- last day worked
    loaded_at         timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE core.worker_assignment (
    hcm_employee_id text NOT NULL,
    effective_date  date NOT NULL,
    end_date        date,                          -- inclusive; NULL = open
    entity_code     text,
    department_name text,
    cost_center     text,
    job_profile     text,
    PRIMARY KEY (hcm_employee_id, effective_date)
);
-- Effective-dated cost rates (Workday): the version in force on a work date costs the time.
CREATE TABLE core.cost_rate (
    hcm_employee_id text NOT NULL,
    effective_date  date NOT NULL,
    end_date        date,                          -- inclusive; NULL = open
    hourly_cost     numeric(12, 4) NOT NULL,
    currency        char(3) NOT NULL,
    last_updated    text,
    PRIMARY KEY (hcm_employee_id, effective_date)
);
-- Bill rates from the PSA rate cards, effective-dated by rate card version.
CREATE TABLE core.bill_rate (
    rate_card_id   text NOT NULL,
    psa_role_id    text NOT NULL,
    effective_date date NOT NULL,
    end_date       date,                           -- inclusive; NULL = open
    rate_in_cents  bigint NOT NULL,
    currency       char(3),
    PRIMARY KEY (rate_card_id, psa_role_id, effective_date)
);
-- NetSuite accounting periods (posting months) per subsidiary set; closed ones take no postings.
CREATE TABLE core.accounting_period (
    erp_period_id text PRIMARY KEY,
    period_name   text NOT NULL,
    start_date    date NOT NULL,
    end_date      date NOT NULL,
    closed        boolean NOT NULL,
    is_posting    boolean NOT NULL DEFAULT true
);
CREATE INDEX accounting_period_dates_idx ON core.accounting_period (start_date, end_date);
