-- The transactional outbox of ERP documents and their lineage
-- (docs/design/approved-time-expense.md §4–6, §8–9).
CREATE TABLE posting.document (
    document_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc_type             text        NOT NULL
                         CHECK (doc_type IN ('timeBill', 'journalEntry', 'expenseReport')),
    external_id          text        NOT NULL UNIQUE,   -- NetSuite externalId: fixed at creation
    entity_code          text        NOT NULL,
    posting_period_id    text,
    tran_date            date        NOT NULL,
    body                 jsonb       NOT NULL,          -- the exact NetSuite request body
    status               text        NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'confirmed', 'rejected')),
    erp_id               text,
    attempts             integer     NOT NULL DEFAULT 0,
    last_error           text,
    reverses_document_id bigint REFERENCES posting.document (document_id),
    control_hours        numeric(14, 4),
    control_amount       numeric(18, 2),
    currency             char(3),
    created_batch_id     bigint      NOT NULL,
    posted_batch_id      bigint,
    created_at           timestamptz NOT NULL DEFAULT now(),
    confirmed_at         timestamptz
);
CREATE INDEX document_pending_idx ON posting.document (document_id) WHERE status = 'pending';

CREATE TABLE posting.document_line (
    document_id bigint         NOT NULL REFERENCES posting.document (document_id),
    line_no     integer        NOT NULL,
    account_id  text,
    debit       numeric(18, 2),
    credit      numeric(18, 2),
    hours       numeric(14, 4),
    amount      numeric(18, 2),
    memo        text,
    dims        jsonb          NOT NULL DEFAULT '{}'::jsonb,   -- job, department, class, item
    PRIMARY KEY (document_id, line_no)
);

-- One row per (document line, source record version): from any ERP line back to the timesheet.
CREATE TABLE posting.lineage (
    document_id              bigint      NOT NULL,
    line_no                  integer     NOT NULL,
    source_system            text        NOT NULL,
    entity                   text        NOT NULL,
    source_id                text        NOT NULL,
    source_version           text        NOT NULL,
    staging_id               bigint      NOT NULL,
    submission_id            text,
    cost_rate_effective_date date,
    cost_rate                numeric(12, 4),
    hours                    numeric(14, 4),
    amount                   numeric(18, 2),
    dag_id                   text,
    run_id                   text,
    task_id                  text,
    try_number               integer,
    created_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, line_no, source_id, source_version),
    FOREIGN KEY (document_id, line_no) REFERENCES posting.document_line (document_id, line_no)
);
CREATE INDEX lineage_source_idx ON posting.lineage (source_system, entity, source_id);
