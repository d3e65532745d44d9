"""Transform accepted records into ERP documents through the outbox, send them, preview them.

Steps 3-5 of the record's path (``docs/design/approved-time-expense.md`` §4-10):

* :func:`build_documents` turns ``accepted`` versions in ``core.time_entry`` and
  ``core.expense`` into ``posting.document`` rows (the exact NetSuite request bodies), their
  ``posting.document_line`` rows and ``posting.lineage``, and assigns each version to its
  documents, all in one transaction and before any HTTP call. The set-based SQL lives in
  ``include/sql/transform/build_*.sql``:

  - a **time bill** (``timeBill``) per billable version, ``PS-TB-<time entry id>-<n>``;
  - a **labour-cost journal** (``journalEntry``) per legal entity, posting period and work date
    of the run, ``PS-LC-<entity>-<yyyymmdd>-<document_id>``: a debit to labour cost per (job,
    department, class) at Σ hours x the cost rate effective on the work date, a credit to cost
    clearing, balanced to the cent;
  - an **expense report** (``expenseReport``) per expense version, ``PS-EX-<expense id>-<n>``.

  External ids are fixed when the row is created. A version whose predecessor was posted gets
  **reversals** first (design §8): a reversing journal in the current open period taking back
  exactly what the original posted for that version, and the next ``PS-TB``/``PS-EX`` with
  negative hours or amount. A version deleted at the source gets the reversals only. (The
  sandbox ERP refuses a time bill with negative hours: such a reversal ends ``rejected`` and
  queued like any refusal.)

* :func:`send_documents` upserts ``pending`` documents by external id (``PUT
  eid:<external_id>``), chunk by chunk, each chunk claimed with ``FOR UPDATE SKIP LOCKED`` and
  its outcome committed with it. A crash loses at most the bookkeeping of the chunk in flight;
  sending again re-upserts those documents under the same external ids and NetSuite replaces
  each record with an identical one.

* :func:`preview_documents` runs the same build in a transaction that is rolled back after its
  lines are read: the GL impact a real run would write. Document ids are drawn in one block in
  the build's document order (:func:`comparable` explains what may differ).

Errors: a record NetSuite refuses is a ``rejected`` document and an ``ops.exception`` row
(``ERP_REJECTED``), not a failure. ``FatalAPIError`` (credentials, permissions, a bad request)
and the hook's ``ConfigurationError`` propagate unchanged, so the operator fails the task at
once; ``RetryableAPIError`` propagates for Airflow's retry. :class:`UnpostableRecordsError`
means validation accepted a version that cannot be posted.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from ps_sync.hooks.erp import NetSuiteHook, UpsertItem, UpsertResult

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parents[2] / "include" / "sql" / "transform"
# Documents claimed, sent and committed together: large enough to keep every concurrency slot
# busy between chunks, small enough that a crash re-sends little.
DEFAULT_CHUNK_SIZE = 200
ERP_REJECTED = "ERP_REJECTED"
_JOURNAL_ID = re.compile(r"^(PS-LC-.+-\d{8})-\d+$")


class UnpostableRecordsError(ValueError):
    """Accepted versions lack what every document needs (validation should have held them).

    Args:
        problems: ``(entity, source_id, source_version, missing)`` of the first offenders.
    """

    def __init__(self, problems: list[tuple[str, str, str, str]]) -> None:
        self.problems = problems
        listed = "; ".join(f"{e} {sid} version {ver}: no {what}" for e, sid, ver, what in problems)
        super().__init__(
            f"accepted records that cannot be posted (first {len(problems)}): {listed}. "
            "Validation must hold them; fix the rule or the reference data and re-validate"
        )


@dataclass(frozen=True)
class DocumentTotals:
    """Control totals of one build per document type, legal entity, period and currency.

    Attributes:
        doc_type: ``timeBill``, ``journalEntry`` or ``expenseReport``.
        entity_code: the legal entity.
        posting_period_id: the NetSuite accounting period (None when none was found).
        currency: ISO 4217 code of the amounts.
        documents: documents created, reversals included.
        reversals: of which reversals.
        lines: document lines.
        hours: Σ hours (reversals negative).
        amount: Σ amounts: billed for time bills, cost for journals, spent for expenses.
    """

    doc_type: str
    entity_code: str
    posting_period_id: str | None
    currency: str | None
    documents: int
    reversals: int
    lines: int
    hours: Decimal
    amount: Decimal


@dataclass(frozen=True)
class BuildResult:
    """What one :func:`build_documents` call wrote to the outbox.

    Attributes:
        batch_id: the transform batch.
        documents: documents created (0 on a re-run).
        lines: document lines created.
        lineage_rows: lineage rows created.
        time_entry_versions: time entry versions assigned to their new documents.
        expense_versions: expense versions assigned to their new documents.
        reversed_versions: (posted document, version) pairs reversed.
        totals: control totals per document type, entity, period and currency.
    """

    batch_id: int
    documents: int
    lines: int
    lineage_rows: int
    time_entry_versions: int
    expense_versions: int
    reversed_versions: int
    totals: list[DocumentTotals]


@dataclass(frozen=True)
class SendResult:
    """What one :func:`send_documents` call did.

    Attributes:
        batch_id: the post batch (``posted_batch_id`` of the confirmed documents).
        sent: documents upserted (confirmed + rejected).
        confirmed: documents NetSuite holds now, with their ERP ids recorded.
        rejected: documents NetSuite refused (each with an ``ops.exception`` row).
        chunks: chunks claimed and committed.
        seconds: wall time.
    """

    batch_id: int
    sent: int
    confirmed: int
    rejected: int
    chunks: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Documents sent per second."""
        return self.sent / self.seconds if self.seconds else 0.0


@functools.cache
def _sql(name: str) -> str:
    """The text of ``include/sql/transform/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def _run(
    conn: psycopg.Connection, name: str, params: Mapping[str, Any] | None = None
) -> psycopg.Cursor[Any]:
    """Execute the statement in ``<name>.sql`` with ``params`` bound.

    Always with a parameter mapping, so that ``%%`` means ``%`` in every file alike.
    """
    return conn.execute(_sql(name), params or {})


def _one(conn: psycopg.Connection, name: str, params: Mapping[str, Any] | None = None) -> Any:
    """The single row of the query in ``<name>.sql``."""
    row = _run(conn, name, params).fetchone()
    assert row is not None, name
    return row


def _current_period(conn: psycopg.Connection, as_of: date) -> tuple[str | None, date]:
    """The period and date reversals post in (the as-of date when no open period is loaded)."""
    row = _run(conn, "build_current_period", {"as_of": as_of}).fetchone()
    if row is None:
        return None, as_of
    return row[0], row[1]


def _build(
    conn: psycopg.Connection,
    *,
    batch_id: int,
    task: Mapping[str, Any],
    entity_codes: list[str] | None,
    as_of: date,
) -> BuildResult:
    """Assemble and write this build's documents; the caller owns the transaction."""
    entities = {"entities": list(entity_codes) if entity_codes else None}
    _run(conn, "build_lock")
    # Several statements: sent without parameters, in one round trip.
    conn.execute(_sql("build_work_tables"))
    _run(conn, "build_time_entries", entities)
    _run(conn, "build_expenses", entities)
    problems = _run(conn, "build_unpostable").fetchall()
    if problems:
        raise UnpostableRecordsError([tuple(p) for p in problems])
    _run(conn, "build_reversal_candidates", entities)
    _run(conn, "build_analyze_candidates")
    _run(conn, "build_reversal_lines")
    _run(conn, "build_analyze_reversals")
    period_id, tran_date = _current_period(conn, as_of)
    reversal = {"period_id": period_id, "tran_date": tran_date}
    for step in ("build_journal_reversals", "build_time_bill_reversals", "build_expense_reversals"):
        _run(conn, step, reversal)
    for step in ("build_time_bills", "build_journals", "build_expense_reports"):
        _run(conn, step)
    _run(conn, "build_analyze_documents")
    documents, lines, lineage_rows, reversed_versions = _one(conn, "build_counts")
    assigned = (0, 0)
    if documents:
        (last_id,) = _one(conn, "build_reserve_ids", {"count": documents})
        _run(conn, "build_assign_ids", {"first_id": last_id - documents + 1})
        _run(conn, "build_insert_documents", {"batch_id": batch_id})
        _run(conn, "build_insert_lines")
        _run(
            conn,
            "build_insert_lineage",
            {key: task.get(key) for key in ("dag_id", "run_id", "task_id", "try_number")},
        )
        assigned = _one(conn, "build_assign_sources")
    totals = [
        DocumentTotals(
            doc_type=row[0],
            entity_code=row[1],
            posting_period_id=row[2],
            currency=row[3],
            documents=int(row[4]),
            reversals=int(row[5]),
            lines=int(row[6]),
            hours=row[7],
            amount=row[8],
        )
        for row in _run(conn, "build_totals")
    ]
    return BuildResult(
        batch_id=batch_id,
        documents=documents,
        lines=lines,
        lineage_rows=lineage_rows,
        time_entry_versions=assigned[0],
        expense_versions=assigned[1],
        reversed_versions=reversed_versions,
        totals=totals,
    )


def build_documents(
    conn: psycopg.Connection,
    *,
    batch_id: int,
    task: dict[str, Any] | None = None,
    entity_codes: list[str] | None = None,
    as_of: date | None = None,
) -> BuildResult:
    """Write the documents of every accepted, unassigned version to the outbox, in one go.

    One transaction creates the documents (external ids fixed), their lines and lineage, the
    reversals of posted versions that changed or were deleted, and assigns each version to its
    new documents. Builds are serialised; running it again creates nothing.

    Args:
        conn: a psycopg connection.
        batch_id: the transform batch (``created_batch_id``).
        task: ``dag_id``, ``run_id``, ``task_id``, ``try_number`` for the lineage.
        entity_codes: only these legal entities (None: all).
        as_of: the date that picks the current open period for reversals (default: today).

    Returns:
        Counts and control totals of what was written.

    Raises:
        UnpostableRecordsError: an accepted version has no mapped entity, date, quantity or
            rate; nothing is written.
    """
    with conn.transaction():
        result = _build(
            conn,
            batch_id=batch_id,
            task=task or {},
            entity_codes=entity_codes,
            as_of=as_of or date.today(),
        )
    log.info(
        "outbox: %d documents (%d reversed versions), %d lines, %d lineage rows; "
        "%d time entry and %d expense versions assigned",
        result.documents,
        result.reversed_versions,
        result.lines,
        result.lineage_rows,
        result.time_entry_versions,
        result.expense_versions,
    )
    return result


def document_lines(conn: psycopg.Connection, *, batch_id: int) -> list[dict[str, Any]]:
    """The lines of the documents a build created, in document and line order.

    Args:
        conn: a psycopg connection.
        batch_id: the build's transform batch.

    Returns:
        One dict per line: ``document_id``, ``document_no`` (position of the document in its
        build), ``doc_type``, ``external_id``, ``entity_code``, ``posting_period_id``,
        ``tran_date``, ``currency``, ``reverses_external_id``, ``line_no``, ``account_id``,
        ``debit``, ``credit``, ``hours``, ``amount``, ``memo``, ``dims``.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_sql("document_lines"), {"batch_id": batch_id}).fetchall()


def preview_documents(
    conn: psycopg.Connection,
    *,
    batch_id: int,
    task: dict[str, Any] | None = None,
    entity_codes: list[str] | None = None,
    as_of: date | None = None,
) -> list[dict[str, Any]]:
    """The GL impact of a build, without writing it: the dry run's preview.

    Runs :func:`build_documents`'s work in a transaction, reads the lines out
    (:func:`document_lines`) and rolls everything back. A real build right after writes the
    same lines in the same order with the same amounts; only document ids differ (sequence
    values are not rolled back), so compare with :func:`comparable`.

    Args:
        conn: a psycopg connection.
        batch_id: the batch the preview runs under (nothing of it is kept).
        task: as for :func:`build_documents`.
        entity_codes: as for :func:`build_documents`.
        as_of: as for :func:`build_documents`.

    Returns:
        The lines a real build would write (see :func:`document_lines`).
    """
    with conn.transaction(force_rollback=True):
        _build(
            conn,
            batch_id=batch_id,
            task=task or {},
            entity_codes=entity_codes,
            as_of=as_of or date.today(),
        )
        lines = document_lines(conn, batch_id=batch_id)
    log.info("GL impact preview: %d lines (rolled back)", len(lines))
    return lines


def comparable(line: Mapping[str, Any]) -> dict[str, Any]:
    """A line without what a preview cannot know: the document id.

    Ids are reserved in one block per build, in the build's document order, so a preview and
    the real build number the same documents in the same order from different starts. The
    comparison drops ``document_id`` and writes the id at the end of a labour-cost journal's
    external id as the document's position in its build (``PS-LC-US01-20261005-#3``); every
    other field, amounts, dates and the other external ids included, must be equal.

    Args:
        line: a line from :func:`preview_documents` or :func:`document_lines`.

    Returns:
        The line as compared.
    """
    out = {k: v for k, v in line.items() if k != "document_id"}
    out["external_id"] = _JOURNAL_ID.sub(rf"\1-#{line['document_no']}", line["external_id"])
    return out


def _refusal_reason(document: Mapping[str, Any], result: UpsertResult) -> str:
    """The exception queue's reason: NetSuite's code, field and detail (never the body)."""
    error = result.error
    assert error is not None
    where = f" at {error.error_path}" if error.error_path else ""
    detail = f": {error.detail}" if error.detail else ""
    return (
        f"NetSuite refused {document['doc_type']} {document['external_id']} "
        f"({error.code or error.status}{where}){detail}"
    )


def _record(
    conn: psycopg.Connection,
    batch_id: int,
    documents: list[dict[str, Any]],
    results: list[UpsertResult],
) -> tuple[int, int]:
    """Record a chunk's outcome; returns (confirmed, rejected)."""
    confirmed = [(d, r) for d, r in zip(documents, results, strict=True) if r.ok]
    refused = [(d, r) for d, r in zip(documents, results, strict=True) if not r.ok]
    if confirmed:
        _run(
            conn,
            "send_confirm",
            {
                "batch_id": batch_id,
                "document_ids": [d["document_id"] for d, _ in confirmed],
                "erp_ids": [r.internal_id for _, r in confirmed],
            },
        )
    if refused:
        _run(
            conn,
            "send_reject",
            {
                "batch_id": batch_id,
                "document_ids": [d["document_id"] for d, _ in refused],
                "errors": [str(r.error) for _, r in refused],
                "reasons": [_refusal_reason(d, r) for d, r in refused],
            },
        )
        for _, result in refused:
            log.warning("%s (%s)", result.error, ERP_REJECTED)
    return len(confirmed), len(refused)


def send_documents(
    conn: psycopg.Connection,
    hook: NetSuiteHook,
    *,
    batch_id: int,
    limit: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> SendResult:
    """Upsert pending documents into NetSuite and record each outcome.

    Chunk by chunk: claim up to ``chunk_size`` pending documents (``FOR UPDATE SKIP LOCKED``),
    upsert them by external id under the account's concurrency limit
    (:meth:`NetSuiteHook.upsert_many`), record ``confirmed`` + ERP id or ``rejected`` +
    ``ops.exception``, commit. Concurrent senders never send the same document; a crash leaves
    the chunk in flight ``pending`` for the next call, whose upserts replace what NetSuite
    already committed.

    Args:
        conn: a psycopg connection with no transaction open (each chunk commits).
        hook: the NetSuite hook.
        batch_id: the post batch, recorded as ``posted_batch_id``.
        limit: send at most this many documents (None: every pending one).
        chunk_size: documents per claimed, committed chunk.

    Returns:
        Counts of documents sent, confirmed and rejected.

    Raises:
        RuntimeError: ``conn`` is inside a transaction (chunks could not commit).
        FatalAPIError: NetSuite refused the request itself (credentials, permissions); the
            chunk in flight stays pending. Retrying cannot help.
        ConfigurationError: the ERP connection is missing or incomplete.
        RetryableAPIError: NetSuite stayed unavailable; the chunk stays pending for a retry.
    """
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise RuntimeError(
            "send_documents commits each chunk: call it with no transaction open "
            "(commit or roll back first)"
        )
    started = time.perf_counter()
    sent = confirmed = rejected = chunks = 0
    while limit is None or sent < limit:
        size = chunk_size if limit is None else min(chunk_size, limit - sent)
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            documents = cur.execute(_sql("send_claim"), {"limit": size}).fetchall()
            if not documents:
                break
            results = hook.upsert_many(
                UpsertItem(d["doc_type"], d["external_id"], d["body"]) for d in documents
            )
            ok, refused = _record(conn, batch_id, documents, results)
        sent += len(documents)
        confirmed += ok
        rejected += refused
        chunks += 1
    result = SendResult(
        batch_id=batch_id,
        sent=sent,
        confirmed=confirmed,
        rejected=rejected,
        chunks=chunks,
        seconds=round(time.perf_counter() - started, 3),
    )
    log.info(
        "sent %d documents to NetSuite in %d chunks (%d confirmed, %d rejected) in %.2fs",
        sent,
        chunks,
        confirmed,
        rejected,
        result.seconds,
    )
    return result
