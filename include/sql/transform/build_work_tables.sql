-- Work tables of one build (docs/design/approved-time-expense.md §4): what to post, what to
-- reverse, and the documents, lines and lineage assembled from them before they get their ids.
-- Dropped with the transaction; a preview's rollback drops them too.
DROP TABLE IF EXISTS _te, _ex, _rev, _revline, _doc, _line, _lineage;

-- Accepted time entry versions that still need a time bill or a labour-cost journal, with
-- every ERP reference and the posting period resolved.
CREATE TEMP TABLE _te (
    source_id                text    NOT NULL,
    source_version           text    NOT NULL,
    staging_id               bigint  NOT NULL,
    submission_id            text,
    work_date                date,
    minutes                  integer,
    hours                    numeric(14, 4),
    billable                 boolean,
    bill_rate                numeric(18, 4),
    bill_currency            char(3),
    entity_code              text,
    cost_rate                numeric(12, 4),
    cost_rate_effective_date date,
    needs_time_bill          boolean NOT NULL,
    needs_journal            boolean NOT NULL,
    employee_id              text,
    job_id                   text,
    item_id                  text,
    class_id                 text,
    department_id            text,
    subsidiary_id            text,
    currency                 char(3),
    currency_id              text,
    posting_period_id        text,
    tran_date                date,
    deferred                 boolean NOT NULL,
    labour_account_id        text,
    clearing_account_id      text,
    PRIMARY KEY (source_id, source_version)
) ON COMMIT DROP;

-- Accepted expense versions without an expense report.
CREATE TEMP TABLE _ex (
    source_id         text    NOT NULL,
    source_version    text    NOT NULL,
    staging_id        bigint  NOT NULL,
    submission_id     text,
    expense_date      date,
    amount            numeric(18, 2),
    currency          char(3),
    currency_id       text,
    billable          boolean,
    reimbursable      boolean,
    entity_code       text,
    subsidiary_id     text,
    employee_id       text,
    job_id            text,
    category_id       text,
    gl_account_id     text,
    class_id          text,
    department_id     text,
    posting_period_id text,
    tran_date         date,
    deferred          boolean NOT NULL,
    PRIMARY KEY (source_id, source_version)
) ON COMMIT DROP;

-- Posted versions whose document gets a reversal (design §8).
CREATE TEMP TABLE _rev (
    doc_type                 text   NOT NULL,
    original_document_id     bigint NOT NULL,
    entity                   text   NOT NULL,
    source_id                text   NOT NULL,
    source_version           text   NOT NULL,
    state                    text   NOT NULL,
    staging_id               bigint NOT NULL,
    submission_id            text,
    cost_rate                numeric(12, 4),
    cost_rate_effective_date date,
    PRIMARY KEY (original_document_id, source_id, source_version)
) ON COMMIT DROP;

-- What the reversed versions' documents posted for them: their lineage on each original line.
CREATE TEMP TABLE _revline (
    doc_type                 text    NOT NULL,
    original_document_id     bigint  NOT NULL,
    original_line_no         integer NOT NULL,
    debit_line               boolean NOT NULL,
    entity                   text    NOT NULL,
    source_id                text    NOT NULL,
    source_version           text    NOT NULL,
    state                    text    NOT NULL,
    staging_id               bigint  NOT NULL,
    submission_id            text,
    cost_rate                numeric(12, 4),
    cost_rate_effective_date date,
    account_id               text,
    dims                     jsonb   NOT NULL,
    hours                    numeric(14, 4),
    amount                   numeric(18, 2),
    PRIMARY KEY (original_document_id, original_line_no, source_id, source_version)
) ON COMMIT DROP;

-- The documents of this build. doc_key orders them (kind, entity, date, natural key), so ids
-- follow the same order in a preview and in the real build.
CREATE TEMP TABLE _doc (
    doc_key              text    PRIMARY KEY,
    doc_type             text    NOT NULL,
    external_id          text    NOT NULL,    -- journals: the prefix; '-<document_id>' follows
    id_suffix            boolean NOT NULL,
    entity_code          text    NOT NULL,
    posting_period_id    text,
    tran_date            date    NOT NULL,
    currency             char(3),
    reverses_document_id bigint,
    header               jsonb   NOT NULL,    -- the body without externalId and its sublist
    sublist              text,                -- 'line' | 'expense': items come from _line.item
    control_hours        numeric(14, 4),
    control_amount       numeric(18, 2),
    document_id          bigint
) ON COMMIT DROP;

CREATE TEMP TABLE _line (
    doc_key    text    NOT NULL,
    line_no    integer NOT NULL,
    account_id text,
    debit      numeric(18, 2),
    credit     numeric(18, 2),
    hours      numeric(14, 4),
    amount     numeric(18, 2),
    memo       text,
    dims       jsonb   NOT NULL,
    item       jsonb,                         -- the line as the body's sublist item
    PRIMARY KEY (doc_key, line_no)
) ON COMMIT DROP;

CREATE TEMP TABLE _lineage (
    doc_key                  text    NOT NULL,
    line_no                  integer NOT NULL,
    entity                   text    NOT NULL,
    source_id                text    NOT NULL,
    source_version           text    NOT NULL,
    staging_id               bigint  NOT NULL,
    submission_id            text,
    cost_rate_effective_date date,
    cost_rate                numeric(12, 4),
    hours                    numeric(14, 4),
    amount                   numeric(18, 2),
    PRIMARY KEY (doc_key, line_no, source_id, source_version)
) ON COMMIT DROP
