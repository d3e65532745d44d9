-- Canonical time entries and expenses: one row per source version, typed, with the outcome of
-- validation (docs/design/approved-time-expense.md §2–4, §8).
CREATE TABLE core.time_entry (
    source_id               text        NOT NULL,
    source_version          text        NOT NULL,
    staging_id              bigint      NOT NULL,
    state                   text        NOT NULL
                            CHECK (state IN ('accepted', 'held', 'superseded', 'deleted')),
    psa_workspace_id        text,
    psa_user_id             text,
    psa_role_id             text,
    story_id                text,
    submission_id           text,               -- the approval: Kantata active_submission_id
    work_date               date,
    minutes                 integer,
    billable                boolean,
    bill_rate_cents         bigint,
    currency                char(3),
    entity_code             text,
    hcm_employee_id         text,
    cost_rate               numeric(12, 4),     -- hourly, in the entity currency
    cost_rate_effective_date date,              -- which cost-rate version was used
    posting_period_id       text,               -- the open period it posts in
    time_bill_document_id   bigint,             -- set when the outbox takes it
    journal_document_id     bigint,
    batch_id                bigint      NOT NULL,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, source_version)
);
-- At most one current (accepted or held) version per source entry.
CREATE UNIQUE INDEX time_entry_current_uq ON core.time_entry (source_id)
    WHERE state IN ('accepted', 'held');
CREATE INDEX time_entry_unposted_idx ON core.time_entry (entity_code, work_date)
    WHERE state = 'accepted' AND journal_document_id IS NULL;

CREATE TABLE core.expense (
    source_id               text        NOT NULL,
    source_version          text        NOT NULL,
    staging_id              bigint      NOT NULL,
    state                   text        NOT NULL
                            CHECK (state IN ('accepted', 'held', 'superseded', 'deleted')),
    psa_workspace_id        text,
    psa_user_id             text,
    submission_id           text,
    expense_date            date,
    amount_cents            bigint,
    currency                char(3),
    psa_category_id         text,
    billable                boolean,
    reimbursable            boolean,
    receipt_id              text,
    entity_code             text,
    posting_period_id       text,
    expense_report_document_id bigint,
    batch_id                bigint      NOT NULL,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, source_version)
);
CREATE UNIQUE INDEX expense_current_uq ON core.expense (source_id)
    WHERE state IN ('accepted', 'held');

-- Exceptions name the staging row they came from, for replay and lineage.
ALTER TABLE ops.exception ADD COLUMN staging_id bigint;
