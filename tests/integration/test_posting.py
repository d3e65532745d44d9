"""The outbox: accepted records → ERP documents, sent exactly once, previewed.

Real PostgreSQL (a fresh, migrated store per test) and the session's seeded sandbox ERP over
HTTP. The ``core`` reference rows are built from the ERP's own records (employees and their
departments, jobs and their practices, accounting periods) and the shipped mappings, so
NetSuite accepts what the transform builds. Ground truth about the ERP comes from its own
database and write log, and from SuiteQL and reads by external id.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from ps_sync import db
from ps_sync.batches import open_batch
from ps_sync.connections import sandbox_connections
from ps_sync.hooks.erp import NetSuiteHook
from ps_sync.hooks.http import RetryPolicy
from ps_sync.mappings import Mappings, load_mappings
from ps_sync.posting import (
    BuildResult,
    SendResult,
    UnpostableRecordsError,
    build_documents,
    comparable,
    document_lines,
    preview_documents,
    send_documents,
)

ENTITY = "US01"
SUBSIDIARY = "2"
OCT = date(2026, 10, 1)  # the seeded firm's period: open, like the two months after it
CLOSED_DAY = date(2026, 9, 28)  # September is closed
AS_OF = date(2026, 11, 3)  # reversals post in the November period
LABOUR, CLEARING = "5000", "2100"
CENTS = Decimal("0.01")
EXTERNAL_IDS = {
    "timeBill": re.compile(r"^PS-TB-(\d+)-(\d+)$"),
    "journalEntry": re.compile(r"^PS-LC-US01-(\d{8})-(\d+)$"),
    "expenseReport": re.compile(r"^PS-EX-(\d+)-(\d+)$"),
}
ERP_TYPES = tuple(EXTERNAL_IDS)
TASK = {
    "dag_id": "approved_time_expense",
    "run_id": "manual__1",
    "task_id": "build",
    "try_number": 1,
}


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def store(make_database) -> str:
    """A fresh ps-sync store at the latest schema."""
    url = make_database()
    db.migrate(url, applied_by="pytest")
    return url


@pytest.fixture
def conn(store: str) -> Iterator[psycopg.Connection]:
    """Autocommit, like a task between its steps: the functions under test own their
    transactions."""
    with psycopg.connect(store, autocommit=True) as connection:
        yield connection


@pytest.fixture
def erp_db(sandbox, server_url: str) -> Iterator[psycopg.Connection]:
    """Read-only ground truth: the sandbox ERP's own database."""
    url = db.with_database(server_url, f"{sandbox.state['prefix']}_erp")
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as connection:
        yield connection


@pytest.fixture
def erp_connection(sandbox, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set ``AIRFLOW_CONN_ERP_DEFAULT`` for the sandbox; keyword arguments override its extra."""

    def apply(**extra: Any) -> None:
        value = json.loads(sandbox_connections(sandbox.vendors())["AIRFLOW_CONN_ERP_DEFAULT"])
        value["extra"].update(extra)
        monkeypatch.setenv("AIRFLOW_CONN_ERP_DEFAULT", json.dumps(value))

    apply()
    return apply


def fast_hook() -> NetSuiteHook:
    """A hook with short backoffs (a dropped answer is retried within a fraction of a second)."""
    return NetSuiteHook(retry_policy=RetryPolicy(backoff_base=0.05, backoff_cap=0.5))


@pytest.fixture
def erp(erp_connection) -> Iterator[NetSuiteHook]:
    hook = fast_hook()
    yield hook
    hook.close()


@pytest.fixture
def switches(sandbox) -> Callable[..., None]:
    def set_switches(**values: Any) -> None:
        sandbox.admin("PATCH", "/switches/erp", json=values)

    return set_switches


# --- the firm in core ----------------------------------------------------------------------------


@dataclass
class Worker:
    psa_user_id: str
    hcm_employee_id: str
    erp_employee_id: str
    department_id: str


@dataclass
class Job:
    psa_workspace_id: str
    erp_job_id: str
    practice: str
    class_id: str


@dataclass
class Firm:
    """The ``core`` reference of one store, consistent with the sandbox ERP, and a record maker."""

    conn: psycopg.Connection
    workers: list[Worker]
    jobs: list[Job]
    departments: dict[str, str]  # department name → ERP id
    batch_id: int
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(910_001))

    def time_entry(
        self,
        worker: Worker,
        job: Job,
        work_date: date,
        minutes: int,
        *,
        cost_rate: str = "57.75",
        bill_rate_cents: int = 17_500,
        billable: bool = True,
        role: str = "1003",
        source_id: str | None = None,
        version: str = "2026-10-30T09:00:00+00:00",
    ) -> str:
        """Insert an accepted time entry version; returns its source id."""
        source_id = source_id or str(next(self.ids))
        self.conn.execute(
            "INSERT INTO core.time_entry (source_id, source_version, staging_id, state, "
            "psa_workspace_id, psa_user_id, psa_role_id, submission_id, work_date, minutes, "
            "billable, bill_rate_cents, currency, entity_code, hcm_employee_id, cost_rate, "
            "cost_rate_effective_date, batch_id) VALUES (%s, %s, %s, 'accepted', %s, %s, %s, %s, "
            "%s, %s, %s, %s, 'USD', %s, %s, %s, %s, %s)",
            (
                source_id,
                version,
                next(self.ids),
                job.psa_workspace_id,
                worker.psa_user_id,
                role,
                f"SUB-{source_id}",
                work_date,
                minutes,
                billable,
                bill_rate_cents,
                ENTITY,
                worker.hcm_employee_id,
                Decimal(cost_rate),
                date(2026, 4, 1),
                self.batch_id,
            ),
        )
        return source_id

    def expense(
        self, worker: Worker, job: Job, day: date, cents: int, *, category: str = "3"
    ) -> str:
        """Insert an accepted expense version; returns its source id."""
        source_id = str(next(self.ids))
        self.conn.execute(
            "INSERT INTO core.expense (source_id, source_version, staging_id, state, "
            "psa_workspace_id, psa_user_id, submission_id, expense_date, amount_cents, currency, "
            "psa_category_id, billable, reimbursable, receipt_id, entity_code, batch_id) "
            "VALUES (%s, 'v1', %s, 'accepted', %s, %s, %s, %s, %s, 'USD', %s, true, true, "
            "'R1', %s, %s)",
            (
                source_id,
                next(self.ids),
                job.psa_workspace_id,
                worker.psa_user_id,
                f"EXS-{source_id}",
                day,
                cents,
                category,
                ENTITY,
                self.batch_id,
            ),
        )
        return source_id


def _insert_rows(conn: psycopg.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    conn.cursor().executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
        [tuple(row[c] for c in columns) for row in rows],
    )


@pytest.fixture
def firm(conn: psycopg.Connection, erp_db: psycopg.Connection) -> Firm:
    """Reference rows in ``core`` from the mappings and the ERP's employees, jobs and periods."""
    mappings = load_mappings()
    erp: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in erp_db.execute(
        "SELECT type, data FROM record WHERE type IN ('employee', 'job', 'accountingPeriod') "
        "ORDER BY type, id"
    ):
        erp[row["type"]].append(row["data"])
    with conn.transaction():
        for table, rows in mappings.rows().items():
            _insert_rows(conn, f"core.{table}", rows)
        return _load_firm(conn, mappings, erp)


def _load_firm(conn: psycopg.Connection, mappings: Mappings, erp: dict[str, list[dict]]) -> Firm:
    _insert_rows(
        conn,
        "core.accounting_period",
        [
            {
                "erp_period_id": p["id"],
                "period_name": p["periodName"],
                "start_date": p["startDate"],
                "end_date": p["endDate"],
                "closed": p["closed"],
                "is_posting": p["isPosting"],
            }
            for p in erp["accountingPeriod"]
        ],
    )
    entity_of = {e.subsidiary_id: e.code for e in mappings.entities.values()}
    workers = [
        Worker(f"U{e['id']}", e["externalId"], e["id"], e["department"]["id"])
        for e in erp["employee"]
        if e["subsidiary"]["id"] == SUBSIDIARY and not e["isInactive"]
    ]
    names = {e["department"]["id"]: e["department"]["refName"] for e in erp["employee"]}
    _insert_rows(
        conn,
        "core.worker",
        [
            {
                "psa_user_id": w.psa_user_id,
                "hcm_employee_id": w.hcm_employee_id,
                "erp_employee_id": w.erp_employee_id,
            }
            for w in workers
        ],
    )
    _insert_rows(
        conn,
        "core.worker_assignment",
        [
            {
                "hcm_employee_id": w.hcm_employee_id,
                "effective_date": date(2020, 1, 1),
                "entity_code": ENTITY,
                "department_name": names[w.department_id],
            }
            for w in workers
        ],
    )
    jobs = []
    for job in erp["job"]:
        if job["subsidiary"]["id"] == SUBSIDIARY:
            practice = mappings.practice_for_class(job["class"]["id"])
            jobs.append(Job(f"W{job['id']}", job["id"], practice.code, practice.erp_class_id))
    _insert_rows(
        conn,
        "core.project",
        [
            {
                "psa_workspace_id": j.psa_workspace_id,
                "erp_job_id": j.erp_job_id,
                "entity_code": entity_of[SUBSIDIARY],
                "practice_code": j.practice,
            }
            for j in jobs
        ],
    )
    batch_id = open_batch(
        conn, workflow="test", step="validate", source_system="psa", entity="time_entries"
    )
    assert len(workers) >= 10 and len(jobs) >= 3
    return Firm(conn, workers, jobs, {v: k for k, v in names.items()}, batch_id)


def a_week(firm: Firm, days: int = 3) -> list[str]:
    """Time of four workers on three jobs over ``days`` October days; every fourth non-billable."""
    ids = []
    rates = ("57.75", "43.3333", "61.10", "90.00")
    for d, (w, worker), j in itertools.product(range(days), enumerate(firm.workers[:4]), range(3)):
        ids.append(
            firm.time_entry(
                worker,
                firm.jobs[j],
                OCT + timedelta(days=5 + d),
                minutes=(20, 45, 90, 475, 125)[(d + w + j) % 5],
                cost_rate=rates[w],
                billable=(d + w + j) % 4 != 0,
            )
        )
    return ids


def build(conn: psycopg.Connection, **kwargs: Any) -> BuildResult:
    batch_id = open_batch(
        conn, workflow="test", step="transform", source_system="psa", entity="postings"
    )
    return build_documents(conn, batch_id=batch_id, task=TASK, as_of=AS_OF, **kwargs)


def send(conn: psycopg.Connection, hook: NetSuiteHook, **kwargs: Any) -> SendResult:
    batch_id = open_batch(conn, workflow="test", step="post", source_system="erp", entity="docs")
    return send_documents(conn, hook, batch_id=batch_id, **kwargs)


def documents(conn: psycopg.Connection) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM posting.document ORDER BY document_id").fetchall()


def lines_of(conn: psycopg.Connection) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    with conn.cursor(row_factory=dict_row) as cur:
        for line in cur.execute(
            "SELECT * FROM posting.document_line ORDER BY document_id, line_no"
        ):
            out[line["document_id"]].append(line)
    return out


def lineage_of(conn: psycopg.Connection) -> dict[tuple[int, int], list[dict[str, Any]]]:
    out: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute("SELECT * FROM posting.lineage"):
            out[row["document_id"], row["line_no"]].append(row)
    return out


def erp_records(erp_db: psycopg.Connection) -> list[dict[str, Any]]:
    """Every record ps-sync created in the ERP (ground truth)."""
    return erp_db.execute(
        "SELECT type, id, external_id, data FROM record "
        "WHERE type = ANY(%s) AND external_id LIKE 'PS-%%' ORDER BY type, id",
        (list(ERP_TYPES),),
    ).fetchall()


def puts(sandbox) -> Counter[str]:
    """Upserts per external id in the ERP's write log."""
    return Counter(
        w["external_id"]
        for w in sandbox.admin("GET", "/posted/erp", params={"limit": 100_000})
        if w["method"] == "PUT"
    )


def money(value: Decimal) -> Decimal:
    return value.quantize(CENTS, ROUND_HALF_UP)


# --- build -------------------------------------------------------------------------------------


def test_build_writes_each_document_once_with_balanced_journals_and_complete_lineage(conn, firm):
    worker, other = firm.workers[0], firm.workers[1]
    # A transfer on 15 October: time before it carries the old department, after it the new.
    new_department = next(
        name for name, erp_id in firm.departments.items() if erp_id != worker.department_id
    )
    conn.execute(
        "UPDATE core.worker_assignment SET end_date = '2026-10-14' WHERE hcm_employee_id = %s",
        (worker.hcm_employee_id,),
    )
    conn.execute(
        "INSERT INTO core.worker_assignment (hcm_employee_id, effective_date, entity_code, "
        "department_name) VALUES (%s, '2026-10-15', %s, %s)",
        (worker.hcm_employee_id, ENTITY, new_department),
    )
    week = a_week(firm)
    before = firm.time_entry(worker, firm.jobs[0], date(2026, 10, 14), 60)
    after = firm.time_entry(worker, firm.jobs[0], date(2026, 10, 15), 60)
    spent = [firm.expense(other, firm.jobs[1], date(2026, 10, 6), 4_250 + n) for n in range(3)]
    entries = [*week, before, after]

    result = build(conn)

    docs = documents(conn)
    by_type = Counter(d["doc_type"] for d in docs)
    billable = conn.execute(
        "SELECT count(*) FROM core.time_entry WHERE billable AND state = 'accepted'"
    ).fetchone()[0]
    work_days = conn.execute("SELECT count(DISTINCT work_date) FROM core.time_entry").fetchone()[0]
    assert by_type == {"timeBill": billable, "journalEntry": work_days, "expenseReport": 3}
    assert result.documents == len(docs) and result.reversed_versions == 0
    assert (result.time_entry_versions, result.expense_versions) == (len(entries), 3)
    assert result.lines == sum(len(v) for v in lines_of(conn).values())
    for doc in docs:
        match = EXTERNAL_IDS[doc["doc_type"]].match(doc["external_id"])
        assert match, doc["external_id"]
        assert doc["body"]["externalId"] == doc["external_id"]
        assert doc["status"] == "pending" and doc["created_batch_id"] == result.batch_id
        if doc["doc_type"] == "journalEntry":
            assert match[1] == doc["tran_date"].strftime("%Y%m%d")
            assert int(match[2]) == doc["document_id"]
        else:
            assert match[2] == "1"

    # Every version is assigned to its documents: billable ones to a time bill too.
    unassigned = conn.execute(
        "SELECT count(*) FROM core.time_entry WHERE journal_document_id IS NULL "
        "OR (billable AND time_bill_document_id IS NULL) "
        "OR (NOT billable AND time_bill_document_id IS NOT NULL)"
    ).fetchone()[0]
    assert unassigned == 0
    assert (
        conn.execute(
            "SELECT count(*) FROM core.expense WHERE expense_report_document_id IS NULL"
        ).fetchone()[0]
        == 0
    )

    # Journals: one debit per (job, department, class) at Σ hours x rate rounded per line, one
    # credit to clearing, balanced; the body's lines are the document's lines.
    expected: dict[tuple[date, str, str, str], Decimal] = defaultdict(Decimal)
    rows = conn.execute(
        "SELECT te.work_date, p.erp_job_id, te.minutes, te.cost_rate, d.erp_id, c.erp_id "
        "FROM core.time_entry te JOIN core.project p USING (psa_workspace_id) "
        "JOIN core.worker w USING (psa_user_id) "
        "JOIN core.worker_assignment a ON a.hcm_employee_id = w.hcm_employee_id "
        " AND te.work_date BETWEEN a.effective_date AND coalesce(a.end_date, 'infinity') "
        "JOIN core.dimension_map d ON d.dimension = 'department' AND d.name = a.department_name "
        "JOIN core.dimension_map c ON c.dimension = 'class' AND c.code = p.practice_code"
    ).fetchall()
    for work_date, job, minutes, rate, department, klass in rows:
        expected[work_date, job, department, klass] += Decimal(minutes) * rate / 60
    lines = lines_of(conn)
    seen = {}
    for doc in (d for d in docs if d["doc_type"] == "journalEntry"):
        doc_lines = lines[doc["document_id"]]
        debits, credit = doc_lines[:-1], doc_lines[-1]
        assert {line["account_id"] for line in debits} == {LABOUR}
        assert credit["account_id"] == CLEARING and credit["debit"] is None
        assert credit["credit"] == sum(line["debit"] for line in debits)
        assert doc["control_amount"] == credit["credit"]
        for line in debits:
            dims = line["dims"]
            key = (doc["tran_date"], dims["job"], dims["department"], dims["class"])
            seen[key] = line["debit"]
        items = doc["body"]["line"]["items"]
        assert [i.get("debit") for i in items] == [
            None if line["debit"] is None else float(line["debit"]) for line in doc_lines
        ]
        assert [i["account"]["id"] for i in items] == [line["account_id"] for line in doc_lines]
        assert doc["body"]["subsidiary"] == {"id": SUBSIDIARY}
        assert doc["body"]["postingPeriod"] == {"id": "202610"}
    assert seen == {key: money(value) for key, value in expected.items()}

    # Time bills: ids only, the department of the work date.
    bills = {d["body"]["memo"].split(";")[0]: d for d in docs if d["doc_type"] == "timeBill"}
    body = bills[f"PSA time entry {before}"]["body"]
    assert body == {
        "externalId": f"PS-TB-{before}-1",
        "tranDate": "2026-10-14",
        "employee": {"id": worker.erp_employee_id},
        "customer": {"id": firm.jobs[0].erp_job_id},
        "item": {"id": load_mappings().service_item_for(firm.jobs[0].practice).id},
        "hours": 1,
        "rate": 175,
        "isBillable": True,
        "subsidiary": {"id": SUBSIDIARY},
        "department": {"id": worker.department_id},
        "class": {"id": firm.jobs[0].class_id},
        "memo": f"PSA time entry {before}; approval SUB-{before}",
    }
    assert bills[f"PSA time entry {after}"]["body"]["department"] == {
        "id": load_mappings().department_named(new_department).erp_department_id
    }
    report = next(d for d in docs if d["external_id"] == f"PS-EX-{spent[0]}-1")
    assert report["body"]["entity"] == {"id": other.erp_employee_id}
    assert report["body"]["expense"]["items"] == [
        {
            "expensedate": "2026-10-06",
            "category": {"id": "3"},
            "amount": 42.5,
            "currency": {"id": "1"},
            "customer": {"id": firm.jobs[1].erp_job_id},
            "expenseaccount": {"id": "6120"},
            "department": {"id": other.department_id},
            "class": {"id": firm.jobs[1].class_id},
            "isBillable": True,
            "isnonreimbursable": False,
            "memo": f"PSA expense {spent[0]}; approval EXS-{spent[0]}",
        }
    ]

    # Lineage: every line has some, and it adds up to the line.
    lineage = lineage_of(conn)
    for document_id, doc_lines in lines.items():
        for line in doc_lines:
            rows = lineage[document_id, line["line_no"]]
            assert rows, (document_id, line["line_no"])
            assert sum(r["amount"] for r in rows) == line["amount"]
            if line["hours"] is not None:
                assert sum(r["hours"] for r in rows) == line["hours"]
            for row in rows:
                assert (row["dag_id"], row["run_id"], row["task_id"], row["try_number"]) == (
                    TASK["dag_id"],
                    TASK["run_id"],
                    TASK["task_id"],
                    TASK["try_number"],
                )
                assert row["submission_id"] and row["staging_id"]
    traced = conn.execute(
        "SELECT count(DISTINCT (source_id, source_version)) FROM posting.lineage "
        "WHERE entity = 'time_entries' AND cost_rate_effective_date = '2026-04-01'"
    ).fetchone()[0]
    assert traced == len(entries)
    totals = {(t.doc_type, t.posting_period_id): t for t in result.totals}
    assert totals["journalEntry", "202610"].hours == sum(
        d["control_hours"] for d in docs if d["doc_type"] == "journalEntry"
    )

    # A second build finds nothing to do.
    counts = (
        "SELECT (SELECT count(*) FROM posting.document), "
        "(SELECT count(*) FROM posting.document_line), (SELECT count(*) FROM posting.lineage)"
    )
    before = conn.execute(counts).fetchone()
    again = build(conn)
    assert (again.documents, again.lines, again.lineage_rows, again.totals) == (0, 0, 0, [])
    assert conn.execute(counts).fetchone() == before


def test_an_accepted_record_that_cannot_be_posted_stops_the_build(conn, firm):
    firm.time_entry(firm.workers[0], firm.jobs[0], OCT, 60)
    bad = firm.time_entry(firm.workers[0], firm.jobs[0], OCT, 60)
    conn.execute("UPDATE core.time_entry SET cost_rate = NULL WHERE source_id = %s", (bad,))
    with pytest.raises(UnpostableRecordsError, match=f"time_entries {bad} .*no cost rate"):
        build(conn)
    assert documents(conn) == []


# --- send --------------------------------------------------------------------------------------


def test_send_confirms_every_document_once_and_queues_what_the_erp_refuses(
    conn, firm, erp, erp_db, sandbox
):
    a_week(firm, days=2)
    firm.expense(firm.workers[1], firm.jobs[1], date(2026, 10, 6), 12_345)
    ghost = Worker("U-GHOST", "99999", "999999999", firm.workers[0].department_id)
    conn.execute(
        "INSERT INTO core.worker (psa_user_id, hcm_employee_id, erp_employee_id) "
        "VALUES (%s, %s, %s)",
        (ghost.psa_user_id, ghost.hcm_employee_id, ghost.erp_employee_id),
    )
    refused = firm.time_entry(ghost, firm.jobs[0], date(2026, 10, 5), 30)
    build(conn)
    total = len(documents(conn))

    result = send(conn, erp)

    assert (result.sent, result.confirmed, result.rejected) == (total, total - 1, 1)
    docs = documents(conn)
    rejected = [d for d in docs if d["status"] == "rejected"]
    assert [d["external_id"] for d in rejected] == [f"PS-TB-{refused}-1"]
    assert rejected[0]["last_error"] == (
        f"NetSuite refused timeBill eid:PS-TB-{refused}-1 (INVALID_CONTENT at employee)"
    )
    with conn.cursor(row_factory=dict_row) as cur:
        exceptions = cur.execute("SELECT * FROM ops.exception").fetchall()
    assert len(exceptions) == 1
    exception = exceptions[0]
    assert (exception["rule_id"], exception["source_id"], exception["entity"]) == (
        "ERP_REJECTED",
        f"PS-TB-{refused}-1",
        "timeBill",
    )
    assert "INVALID_CONTENT at employee" in exception["reason"]
    assert "999999999" in exception["reason"]  # NetSuite's detail names the refused value
    assert '"hours"' not in exception["reason"] and "externalId" not in exception["reason"]
    assert (exception["minutes"], exception["legal_entity"]) == (30, ENTITY)

    confirmed = [d for d in docs if d["status"] == "confirmed"]
    assert all(
        d["erp_id"] and d["attempts"] == 1 and d["confirmed_at"] and d["posted_batch_id"]
        for d in confirmed
    )
    # The ERP holds exactly one record per external id, the one ps-sync recorded.
    records = erp_records(erp_db)
    assert Counter(r["external_id"] for r in records) == {d["external_id"]: 1 for d in confirmed}
    assert {r["external_id"]: str(r["id"]) for r in records} == {
        d["external_id"]: d["erp_id"] for d in confirmed
    }
    assert set(puts(sandbox).values()) == {1}
    for record_type in ERP_TYPES:
        listed = list(
            erp.suiteql(f"SELECT id, externalid FROM {record_type} WHERE externalid LIKE 'PS-%'")
        )
        mine = {d["external_id"]: d["erp_id"] for d in confirmed if d["doc_type"] == record_type}
        assert {r["externalid"]: r["id"] for r in listed} == mine
    journal = next(d for d in confirmed if d["doc_type"] == "journalEntry")
    stored = erp.get_by_external_id(
        "journalEntry", journal["external_id"], expand_sub_resources=True
    )
    assert stored is not None and stored["id"] == journal["erp_id"]
    assert [i.get("debit") for i in stored["line"]["items"]] == [
        i.get("debit") for i in journal["body"]["line"]["items"]
    ]

    # Nothing is left to send; a second call sends nothing.
    assert send(conn, erp).sent == 0


def test_a_closed_period_entry_posts_in_the_next_open_period_under_next_open(
    conn, firm, erp, erp_db
):
    conn.execute(
        "UPDATE core.entity_map SET closed_period_policy = 'next_open' WHERE entity_code = %s",
        (ENTITY,),
    )
    late = firm.time_entry(firm.workers[0], firm.jobs[0], CLOSED_DAY, 90)
    build(conn)
    docs = {d["doc_type"]: d for d in documents(conn)}
    bill, journal = docs["timeBill"], docs["journalEntry"]
    assert (bill["tran_date"], bill["posting_period_id"]) == (date(2026, 10, 1), "202610")
    assert bill["body"]["tranDate"] == "2026-10-01"
    assert bill["body"]["memo"] == (
        f"PSA time entry {late}; approval SUB-{late}; "
        "work date 2026-09-28, posted in the next open period"
    )
    assert journal["external_id"].startswith("PS-LC-US01-20260928-")
    assert journal["body"]["tranDate"] == "2026-10-01"
    assert journal["body"]["postingPeriod"] == {"id": "202610"}
    assert "work date 2026-09-28" in journal["body"]["memo"]

    result = send(conn, erp)
    assert (result.confirmed, result.rejected) == (2, 0)
    assert len(erp_records(erp_db)) == 2


def test_an_upsert_answer_lost_after_the_erp_committed_leaves_one_record(
    conn, firm, erp, erp_db, sandbox
):
    a_week(firm, days=1)
    build(conn)
    rule = sandbox.admin(
        "POST", "/faults/erp", json={"kind": "drop_after_commit", "method": "PUT", "times": 1}
    )

    first = send(conn, erp)
    second = send(conn, erp)

    docs = documents(conn)
    assert {d["status"] for d in docs} == {"confirmed"}
    assert first.confirmed + second.confirmed == len(docs)
    injected = next(r for r in sandbox.admin("GET", "/faults/erp") if r["id"] == rule["id"])
    assert injected["injected"] == 1
    records = erp_records(erp_db)
    assert Counter(r["external_id"] for r in records) == {d["external_id"]: 1 for d in docs}
    upserts = puts(sandbox)
    dropped = [eid for eid, n in upserts.items() if n == 2]
    assert len(dropped) == 1 and sum(upserts.values()) == len(docs) + 1
    recorded = next(d for d in docs if d["external_id"] == dropped[0])
    assert recorded["erp_id"] == str(
        next(r["id"] for r in records if r["external_id"] == dropped[0])
    )


CRASHING_SENDER = """
import sys
import psycopg
from ps_sync.hooks.erp import NetSuiteHook
from ps_sync.posting import send_documents

url, batch_id, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with psycopg.connect(url) as conn:
    send_documents(conn, NetSuiteHook(), batch_id=batch_id, chunk_size=chunk)
"""


def test_a_sender_killed_after_the_erp_committed_sends_again_without_duplicates(
    conn, store, firm, erp, erp_connection, *, erp_db, sandbox, switches
):
    worker, job = firm.workers[0], firm.jobs[0]
    for n in range(30):
        firm.time_entry(worker, job, OCT + timedelta(days=n % 20), 30 + n)
    build(conn)
    docs = documents(conn)
    switches(latency_ms=150)
    erp_connection(max_concurrency=2)
    batch_id = open_batch(conn, workflow="test", step="post", source_system="erp", entity="docs")
    chunk = 6

    sender = subprocess.Popen(
        [sys.executable, "-c", CRASHING_SENDER, store, str(batch_id), str(chunk)],
        env=dict(os.environ),
    )
    watch = psycopg.connect(store, autocommit=True)
    deadline = time.monotonic() + 60
    try:
        # SIGKILL once a chunk is recorded and the next one is half-way: the ERP has committed
        # upserts that ps-sync has not recorded.
        while time.monotonic() < deadline and sender.poll() is None:
            in_erp = erp_db.execute(
                "SELECT count(*) AS n FROM record WHERE type = 'timeBill'"
            ).fetchone()["n"]
            recorded = watch.execute(
                "SELECT count(*) FROM posting.document WHERE status = 'confirmed'"
            ).fetchone()[0]
            if recorded >= chunk and in_erp > recorded:
                sender.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        sender.wait(30)
    finally:
        watch.close()
        if sender.poll() is None:
            sender.kill()
    assert sender.returncode == -signal.SIGKILL

    status = {d["external_id"]: d["status"] for d in documents(conn)}
    in_erp = {r["external_id"] for r in erp_records(erp_db)}
    committed_unrecorded = {eid for eid in in_erp if status[eid] == "pending"}
    assert committed_unrecorded, "the kill did not land between an ERP commit and its record"
    assert "confirmed" in status.values() and "pending" in status.values()

    switches(latency_ms=0)
    erp_connection()
    result = send(conn, fast_hook())

    after = documents(conn)
    assert {d["status"] for d in after} == {"confirmed"}
    assert result.confirmed == sum(1 for s in status.values() if s == "pending")
    records = erp_records(erp_db)
    assert Counter(r["external_id"] for r in records) == {d["external_id"]: 1 for d in docs}
    assert {r["external_id"]: str(r["id"]) for r in records} == {
        d["external_id"]: d["erp_id"] for d in after
    }
    upserts = puts(sandbox)
    assert all(upserts[eid] == 2 for eid in committed_unrecorded)


def test_two_concurrent_senders_send_each_document_once(
    conn, store, firm, erp_connection, *, erp_db, sandbox, switches
):
    worker = firm.workers[2]
    for n in range(60):
        firm.time_entry(worker, firm.jobs[n % 3], OCT + timedelta(days=n % 10), 15 + n)
    build(conn)
    total = len(documents(conn))
    switches(latency_ms=30)
    start = threading.Barrier(2)
    results = []

    def sender() -> None:
        hook = fast_hook()
        with psycopg.connect(store) as own:
            batch_id = open_batch(
                own, workflow="test", step="post", source_system="erp", entity="docs"
            )
            start.wait()
            results.append(send_documents(own, hook, batch_id=batch_id, chunk_size=5))
        hook.close()

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(results) == 2 and all(r.sent > 0 for r in results)
    assert sum(r.sent for r in results) == sum(r.confirmed for r in results) == total
    assert {d["status"] for d in documents(conn)} == {"confirmed"}
    upserts = puts(sandbox)
    assert len(upserts) == total and set(upserts.values()) == {1}
    assert len(erp_records(erp_db)) == total


# --- adjustments and the preview ---------------------------------------------------------------


def supersede(conn: psycopg.Connection, source_id: str, minutes: int) -> None:
    """A new accepted version of a posted entry (the old one superseded), as validation does."""
    conn.execute(
        "UPDATE core.time_entry SET state = 'superseded' "
        "WHERE source_id = %s AND state = 'accepted'",
        (source_id,),
    )
    conn.execute(
        "INSERT INTO core.time_entry (source_id, source_version, staging_id, state, "
        "psa_workspace_id, psa_user_id, psa_role_id, submission_id, work_date, minutes, billable, "
        "bill_rate_cents, currency, entity_code, hcm_employee_id, cost_rate, "
        "cost_rate_effective_date, batch_id) "
        "SELECT source_id, '2026-11-02T10:00:00+00:00', staging_id + 1, 'accepted', "
        "psa_workspace_id, psa_user_id, psa_role_id, submission_id || '-2', work_date, %s, "
        "billable, bill_rate_cents, currency, entity_code, hcm_employee_id, cost_rate, "
        "cost_rate_effective_date, batch_id FROM core.time_entry "
        "WHERE source_id = %s AND state = 'superseded'",
        (minutes, source_id),
    )


def test_an_adjusted_entry_is_reversed_and_reposted_and_a_deleted_one_reversed(
    conn, firm, erp, erp_db
):
    worker, job, day = firm.workers[0], firm.jobs[0], date(2026, 10, 7)
    changed = firm.time_entry(worker, job, day, 120, cost_rate="57.75")
    deleted = firm.time_entry(worker, firm.jobs[1], day, 45, cost_rate="57.75")
    kept = firm.time_entry(firm.workers[1], firm.jobs[2], day, 60, cost_rate="61.10")
    refunded = firm.expense(worker, job, day, 12_000)
    build(conn)
    assert send(conn, erp).rejected == 0
    originals = {d["external_id"]: d for d in documents(conn)}
    original_journal = next(d for d in originals.values() if d["doc_type"] == "journalEntry")

    supersede(conn, changed, minutes=90)
    conn.execute("UPDATE core.time_entry SET state = 'deleted' WHERE source_id = %s", (deleted,))
    conn.execute("UPDATE core.expense SET state = 'deleted' WHERE source_id = %s", (refunded,))
    result = build(conn)

    new = [d for d in documents(conn) if d["external_id"] not in originals]
    by_id = {d["external_id"]: d for d in new}
    assert result.reversed_versions == 5  # two versions x (time bill, journal), the expense
    assert set(by_id) == {
        f"PS-TB-{changed}-2",
        f"PS-TB-{deleted}-2",
        f"PS-TB-{changed}-3",
        f"PS-EX-{refunded}-2",
        *(d["external_id"] for d in new if d["doc_type"] == "journalEntry"),
    }
    refund = by_id[f"PS-EX-{refunded}-2"]
    assert refund["reverses_document_id"] == originals[f"PS-EX-{refunded}-1"]["document_id"]
    assert [i["amount"] for i in refund["body"]["expense"]["items"]] == [-120]
    assert refund["body"]["tranDate"] == AS_OF.isoformat()
    assert refund["body"]["postingPeriod"] == {"id": "202611"}
    assert refund["body"]["memo"] == (
        f"Reverses PS-EX-{refunded}-1: PSA expense {refunded} deleted at the source"
    )
    reversal_journal, new_journal = sorted(
        (d for d in new if d["doc_type"] == "journalEntry"),
        key=lambda d: d["reverses_document_id"] is None,
    )
    # The reversing journal: in the current open period, pointing at the original, taking back
    # exactly the changed and deleted entries' cost with debit and credit swapped.
    assert reversal_journal["reverses_document_id"] == original_journal["document_id"]
    assert (reversal_journal["tran_date"], reversal_journal["posting_period_id"]) == (
        AS_OF,
        "202611",
    )
    assert reversal_journal["external_id"].startswith("PS-LC-US01-20261103-")
    cost = {changed: money(Decimal(120) * Decimal("57.75") / 60), deleted: Decimal("43.31")}
    items = reversal_journal["body"]["line"]["items"]
    assert [(i["account"]["id"], i.get("debit"), i.get("credit")) for i in items] == [
        (LABOUR, None, float(cost[changed])),
        (LABOUR, None, float(cost[deleted])),
        (CLEARING, float(cost[changed] + cost[deleted]), None),
    ]
    assert [i["entity"]["id"] for i in items[:2]] == [job.erp_job_id, firm.jobs[1].erp_job_id]
    assert new_journal["reverses_document_id"] is None
    assert new_journal["tran_date"] == day
    new_cost = money(Decimal(90) * Decimal("57.75") / 60)
    assert new_journal["control_amount"] == new_cost
    # The time bills: the next numbers, negative hours for the reversals.
    assert by_id[f"PS-TB-{changed}-2"]["body"]["hours"] == -2
    assert (
        by_id[f"PS-TB-{changed}-2"]["reverses_document_id"]
        == (originals[f"PS-TB-{changed}-1"]["document_id"])
    )
    assert by_id[f"PS-TB-{deleted}-2"]["body"]["hours"] == -0.75
    assert by_id[f"PS-TB-{deleted}-2"]["body"]["memo"].endswith(f"{deleted} deleted at the source")
    assert by_id[f"PS-TB-{changed}-2"]["body"]["memo"].endswith(f"{changed} changed at the source")
    assert by_id[f"PS-TB-{changed}-3"]["body"]["hours"] == 1.5
    assert by_id[f"PS-TB-{changed}-3"]["body"]["tranDate"] == day.isoformat()

    # Lineage keeps both versions, and nets, per document type, to the current version.
    with conn.cursor(row_factory=dict_row) as cur:
        net = {
            (r["source_id"], r["doc_type"]): (r["hours"], r["amount"], r["versions"])
            for r in cur.execute(
                "SELECT l.source_id, d.doc_type, sum(l.hours) AS hours, sum(l.amount) AS amount, "
                "count(DISTINCT l.source_version) AS versions "
                "FROM posting.lineage l JOIN posting.document d USING (document_id) "
                "JOIN posting.document_line dl USING (document_id, line_no) "
                "WHERE dl.account_id IS DISTINCT FROM %s GROUP BY 1, 2",
                (CLEARING,),
            )
        }
    assert net[changed, "timeBill"][:1] == (Decimal("1.5"),)
    assert net[changed, "journalEntry"] == (Decimal("1.5"), new_cost, 2)
    assert net[deleted, "timeBill"][:2] == (0, 0)
    assert net[deleted, "journalEntry"][:2] == (0, 0)
    assert net[kept, "journalEntry"] == (1, Decimal("61.10"), 1)
    assert build(conn).documents == 0

    sent = send(conn, erp)

    # The ERP's labour cost for the changed entry's job nets to the new version.
    records = {r["external_id"]: r for r in erp_records(erp_db)}
    labour = Decimal(0)
    for record in records.values():
        if record["type"] == "journalEntry":
            for item in record["data"]["line"]["items"]:
                if item["account"]["id"] == LABOUR and item["entity"]["id"] == job.erp_job_id:
                    labour += Decimal(str(item.get("debit") or 0))
                    labour -= Decimal(str(item.get("credit") or 0))
    assert labour == new_cost
    assert records[f"PS-TB-{changed}-3"]["data"]["hours"] == 1.5
    # The sandbox ERP refuses a time bill with negative hours (its timeBill.hours must be
    # "H:MM" or a non-negative number), so the design's time-bill reversal is refused and
    # queued, visibly: until that is settled the ERP holds the old and the new time bill.
    status = {d["external_id"]: d for d in documents(conn)}
    for reversal in (f"PS-TB-{changed}-2", f"PS-TB-{deleted}-2"):
        assert status[reversal]["status"] == "rejected"
        assert status[reversal]["last_error"].endswith("(INVALID_CONTENT at hours)")
    assert (sent.confirmed, sent.rejected) == (len(new) - 2, 2)
    assert status[f"PS-EX-{refunded}-2"]["status"] == "confirmed"
    assert {
        r["data"]["expense"]["items"][0]["amount"]
        for eid, r in records.items()
        if eid.startswith(f"PS-EX-{refunded}-")
    } == {120, -120}
    assert (
        conn.execute(
            "SELECT count(*) FROM ops.exception WHERE rule_id = 'ERP_REJECTED'"
        ).fetchone()[0]
        == 2
    )


def test_the_preview_is_what_the_build_then_writes(conn, firm, erp):
    changed = firm.time_entry(firm.workers[0], firm.jobs[0], date(2026, 10, 8), 100)
    firm.time_entry(firm.workers[1], firm.jobs[0], date(2026, 10, 8), 50)
    build(conn)
    send(conn, erp)
    supersede(conn, changed, minutes=130)
    a_week(firm, days=2)
    firm.expense(firm.workers[2], firm.jobs[2], date(2026, 10, 9), 9_900)
    before = (len(documents(conn)), conn.execute("SELECT count(*) FROM posting.lineage").fetchone())
    assigned = conn.execute(
        "SELECT count(*) FROM core.time_entry WHERE journal_document_id IS NOT NULL"
    ).fetchone()

    batch = open_batch(conn, workflow="test", step="transform", source_system="psa", entity="p")
    preview = preview_documents(conn, batch_id=batch, task=TASK, as_of=AS_OF)

    assert (
        len(documents(conn)),
        conn.execute("SELECT count(*) FROM posting.lineage").fetchone(),
    ) == before
    assert (
        conn.execute(
            "SELECT count(*) FROM core.time_entry WHERE journal_document_id IS NOT NULL"
        ).fetchone()
        == assigned
    )
    kinds = Counter(
        (line["doc_type"], line["reverses_external_id"] is not None) for line in preview
    )
    assert set(kinds) == {
        ("timeBill", False),
        ("timeBill", True),
        ("journalEntry", False),
        ("journalEntry", True),
        ("expenseReport", False),
    }

    result = build(conn)
    written = document_lines(conn, batch_id=result.batch_id)
    assert [comparable(line) for line in preview] == [comparable(line) for line in written]
    # Only the document ids differ: the preview's sequence values are not rolled back.
    assert {line["document_id"] for line in preview}.isdisjoint(
        line["document_id"] for line in written
    )


# --- rates -------------------------------------------------------------------------------------


def test_build_and_send_rates(
    conn, firm, erp_connection, *, switches, sandbox, record_property, capsys
):
    workers, jobs = firm.workers[:10], firm.jobs[:3]
    with conn.transaction(), conn.cursor() as cur:
        rows = []
        for n in range(3000):
            source_id = str(950_000 + n)
            rows.append(
                (
                    source_id,
                    "v1",
                    n + 1,
                    jobs[n % 3].psa_workspace_id,
                    workers[n % len(workers)].psa_user_id,
                    "1002",
                    f"SUB-{source_id}",
                    OCT + timedelta(days=n % 28),
                    15 * (1 + n % 32),
                    17_500,
                    ENTITY,
                    workers[n % len(workers)].hcm_employee_id,
                    Decimal("57.75"),
                    firm.batch_id,
                )
            )
        cur.executemany(
            "INSERT INTO core.time_entry (source_id, source_version, staging_id, state, "
            "psa_workspace_id, psa_user_id, psa_role_id, submission_id, work_date, minutes, "
            "billable, bill_rate_cents, currency, entity_code, hcm_employee_id, cost_rate, "
            "cost_rate_effective_date, batch_id) VALUES (%s, %s, %s, 'accepted', %s, %s, %s, "
            "%s, %s, %s, true, %s, 'USD', %s, %s, %s, '2026-04-01', %s)",
            rows,
        )

    started = time.perf_counter()
    built = build(conn)
    build_seconds = time.perf_counter() - started
    assert built.time_entry_versions == 3000 and built.documents == 3000 + 28

    def rate(count: int, **extra: Any) -> float:
        erp_connection(**extra)
        hook = NetSuiteHook()
        hook.get_by_external_id("timeBill", "PS-WARMUP")  # the session, outside the clock
        result = send(conn, hook, limit=count)
        hook.close()
        assert result.confirmed == count
        return result.per_second

    default_rate = rate(300)
    switches(latency_ms=50, concurrency_limit=15)
    capped_rate = rate(600, max_concurrency=15)
    cap = 15 / 0.050
    ratio = capped_rate / cap
    record_property("build_versions_per_s", round(3000 / build_seconds))
    record_property("send_default_per_s", round(default_rate))
    record_property("send_capped_ratio", round(ratio, 3))
    with capsys.disabled():
        print(
            f"\nbuild: 3000 versions → {built.documents} documents, {built.lines} lines, "
            f"{built.lineage_rows} lineage rows in {build_seconds:.2f}s "
            f"({3000 / build_seconds:.0f} versions/s); send: {default_rate:.0f} documents/s "
            f"(default latency, 10 workers), {capped_rate:.0f} documents/s at 50 ms and a limit "
            f"of 15 = {ratio:.2f} of the {cap:.0f}/s cap"
        )
    assert ratio >= 0.6
    assert set(puts(sandbox).values()) == {1}
