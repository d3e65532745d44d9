-- A batch is one pass of one workflow step over one source entity: what a task pushes to XCom
-- is its batch_id and control totals, never rows.
CREATE TABLE ops.batch (
    batch_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow        text        NOT NULL,             -- e.g. approved_time_expense
    step            text        NOT NULL,             -- stage | validate | transform | post
    source_system   text        NOT NULL,             -- psa | erp | crm | hcm
    entity          text        NOT NULL,             -- time_entries, expenses, accounts, ...
    interval_start  timestamptz,
    interval_end    timestamptz,
    dag_id          text,
    run_id          text,
    task_id         text,
    try_number      integer,
    status          text        NOT NULL DEFAULT 'running'
                    CHECK (status IN ('running', 'succeeded', 'failed')),
    -- Control totals: {"extracted": n, "staged": n, "accepted": n, "held": n, "amount": ...}
    control_totals  jsonb       NOT NULL DEFAULT '{}'::jsonb,
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX batch_run_idx ON ops.batch (dag_id, run_id);

-- The exception work queue: every held record with a specific reason and what to do about it.
CREATE TABLE ops.exception (
    exception_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_system   text        NOT NULL,
    entity          text        NOT NULL,
    source_id       text        NOT NULL,
    source_version  text,
    rule_id         text        NOT NULL,             -- e.g. TE-UNKNOWN-PROJECT
    severity        text        NOT NULL CHECK (severity IN ('error', 'warning')),
    reason          text        NOT NULL,             -- human-readable, no secrets or personal data
    remediation     text        NOT NULL,
    legal_entity    text,
    amount          numeric(18, 2),
    minutes         integer,
    status          text        NOT NULL DEFAULT 'open'
                    CHECK (status IN ('open', 'replayed', 'resolved', 'dismissed')),
    batch_id        bigint REFERENCES ops.batch (batch_id),
    first_seen_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz,
    resolved_by     text,
    resolution_note text
);
-- One open exception per record and rule: re-validating the same record refreshes it.
CREATE UNIQUE INDEX exception_open_uq
    ON ops.exception (source_system, entity, source_id, rule_id)
    WHERE status = 'open';
CREATE INDEX exception_status_idx ON ops.exception (status, rule_id);
