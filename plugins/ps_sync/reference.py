"""Load the reference data validation and posting join against (docs/design §1, a stopgap).

Until master-data sync owns these tables, every run replaces them from the source systems:

========================  ==========================================================================
``core.*_map``            the mapping files (:meth:`ps_sync.mappings.Mappings.rows`)
``core.project``          PSA workspaces (archived included) + their external references (CRM
                          opportunity, NetSuite job) + the NetSuite job (subsidiary → legal entity,
                          class → practice)
``core.worker``           PSA users + their external references (Workday worker, NetSuite
                          employee) + Workday ``PSA_Workers`` (hire and termination dates)
``core.worker_assignment``  Workday ``PSA_Worker_Assignments`` (every version)
``core.cost_rate``        Workday ``PSA_Worker_Cost_Rates`` (every version)
``core.bill_rate``        PSA rate cards, their versions and role rates
``core.accounting_period``  NetSuite accounting periods (SuiteQL)
========================  ==========================================================================

The source records stream into one temporary table (COPY, nothing held in memory); the core
tables are then truncated and refilled by the set-based statements in
``include/sql/validate/reference/``, all in one transaction, so readers see the old reference or
the new one, never a mix, and the core tables are locked only for the final swap.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from ps_sync.hooks.erp import NetSuiteHook
from ps_sync.hooks.hcm_raas import WorkdayReportReader
from ps_sync.hooks.psa import KantataHook
from ps_sync.mappings import Mappings

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parents[2] / "include" / "sql" / "validate" / "reference"
# Mapping tables first: the project statement joins them.
MAPPING_TABLES = (
    "entity_map",
    "gl_account_map",
    "service_item_map",
    "expense_category_map",
    "dimension_map",
)
# (core table, the source documents it is built from) in load order.
REFERENCE_TABLES = (
    ("project", ("workspace",)),
    ("worker", ("user",)),
    ("worker_assignment", ("hcm_assignment",)),
    ("cost_rate", ("hcm_cost_rate",)),
    ("bill_rate", ("rate_card_role",)),
    ("accounting_period", ("period",)),
)
# PSA_Workers shows a termination date only once the as-of date is past it, and leaves out
# workers hired after it: read far ahead to see every hire and every (scheduled) termination.
WORKERS_AS_OF = "2999-12-31"
SUITEQL_JOBS = "SELECT id, externalid, subsidiary, class, parent FROM job ORDER BY id"
SUITEQL_EMPLOYEES = "SELECT id, externalid FROM employee ORDER BY id"
SUITEQL_PERIODS = (
    "SELECT id, periodname, TO_CHAR(startdate, 'YYYY-MM-DD') AS start_date, "
    "TO_CHAR(enddate, 'YYYY-MM-DD') AS end_date, closed, isposting, isadjust "
    "FROM accountingperiod ORDER BY id"
)

_TEMP_TABLE = "CREATE TEMP TABLE _ref_doc (kind text NOT NULL, doc jsonb NOT NULL) ON COMMIT DROP"


def _sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def source_documents(
    psa: KantataHook, erp: NetSuiteHook, hcm: WorkdayReportReader
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every source record the reference is built from, as ``(kind, record)``, streamed.

    Args:
        psa: the Kantata hook.
        erp: the NetSuite hook.
        hcm: the Workday report reader.

    Yields:
        ``(kind, record)``: ``workspace``, ``user``, ``reference`` (Kantata external references
        of workspaces and users), ``rate_card``, ``rate_card_version``, ``rate_card_role``,
        ``job``, ``employee``, ``period`` (SuiteQL rows), ``hcm_worker``, ``hcm_assignment``,
        ``hcm_cost_rate`` (report entries); records exactly as served.
    """
    collections = (
        ("workspace", "workspaces", {"include_archived": True}),
        ("user", "users", {}),
        ("reference", "external_references", {"subject_type": "Workspace"}),
        ("reference", "external_references", {"subject_type": "User"}),
        ("rate_card", "rate_cards", {}),
        ("rate_card_version", "rate_card_versions", {}),
        ("rate_card_role", "rate_card_roles", {}),
    )
    for kind, collection, params in collections:
        for record in psa.iter_records(collection, **params):
            yield kind, record
    for kind, query in (
        ("job", SUITEQL_JOBS),
        ("employee", SUITEQL_EMPLOYEES),
        ("period", SUITEQL_PERIODS),
    ):
        for row in erp.suiteql(query, unique_key="id"):
            yield kind, row
    for kind, report, prompts in (
        ("hcm_worker", "PSA_Workers", {"Effective_as_of_Date": WORKERS_AS_OF}),
        ("hcm_assignment", "PSA_Worker_Assignments", {}),
        ("hcm_cost_rate", "PSA_Worker_Cost_Rates", {}),
    ):
        for entry in hcm.report(report, **prompts):
            yield kind, entry


def _copy_mappings(conn: psycopg.Connection, mappings: Mappings) -> dict[str, int]:
    counts = {}
    rows = mappings.rows()
    for table in MAPPING_TABLES:
        table_rows = rows[table]
        columns = list(table_rows[0]) if table_rows else []
        if columns:
            statement = sql.SQL("COPY core.{} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            with conn.cursor().copy(statement) as copy:
                for row in table_rows:
                    copy.write_row([row[c] for c in columns])
        counts[table] = len(table_rows)
    return counts


def load_reference(
    conn: psycopg.Connection,
    *,
    psa: KantataHook,
    erp: NetSuiteHook,
    hcm: WorkdayReportReader,
    mappings: Mappings,
) -> dict[str, int]:
    """Replace the core reference tables with the source systems' current data, in one transaction.

    Args:
        conn: a psycopg connection. The work is one transaction, committed on return (a
            savepoint of the caller's transaction when one is open, e.g. a dry run).
        psa: the Kantata hook (workspaces, users, external references, rate cards).
        erp: the NetSuite hook (jobs, employees, accounting periods through SuiteQL).
        hcm: the Workday report reader (workers, assignments, cost rates).
        mappings: the validated mapping files.

    Returns:
        Rows loaded per core table (``project``, ``worker``, ..., ``entity_map``, ...).

    Raises:
        ps_sync.hooks.http.APIError: a source system failed; nothing was replaced.
    """
    started = time.perf_counter()
    received: Counter[str] = Counter()
    with conn.transaction():
        conn.execute(_TEMP_TABLE)
        with conn.cursor().copy("COPY _ref_doc (kind, doc) FROM STDIN") as copy:
            for kind, record in source_documents(psa, erp, hcm):
                copy.write_row((kind, json.dumps(record)))
                received[kind] += 1
        conn.execute(_sql("_truncate"))
        counts = _copy_mappings(conn, mappings)
        for table, sources in REFERENCE_TABLES:
            counts[table] = conn.execute(_sql(table)).rowcount
            offered = sum(received[kind] for kind in sources)
            if counts[table] < offered:
                # Duplicates or rows without a usable key or value; counts only, never values.
                log.warning(
                    "reference: %d of %d source rows for core.%s were not loaded (duplicate, "
                    "or missing a key, date or amount)",
                    offered - counts[table],
                    offered,
                    table,
                )
        conn.execute(_sql("_analyze"))
        conn.execute(_sql("_cleanup"))
    log.info(
        "reference loaded in %.2fs: %s",
        time.perf_counter() - started,
        ", ".join(f"{table} {n}" for table, n in counts.items()),
    )
    return counts
