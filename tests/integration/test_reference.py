"""Reference load: the core reference tables from the seeded sandbox, over real HTTP.

Hooks are built from the Airflow connections ``sandbox_connections`` gives; ground truth comes
from the vendors' own databases, never from the APIs under test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from ps_sync import db
from ps_sync.connections import sandbox_connections
from ps_sync.hooks.erp import NetSuiteHook
from ps_sync.hooks.hcm_raas import WorkdayReportReader
from ps_sync.hooks.http import AuthenticationError, RetryPolicy
from ps_sync.hooks.psa import KantataHook
from ps_sync.mappings import load_mappings
from ps_sync.reference import load_reference

FAST = RetryPolicy(backoff_base=0.05, backoff_cap=0.2)
TABLES = (
    "project",
    "worker",
    "worker_assignment",
    "cost_rate",
    "bill_rate",
    "accounting_period",
    "entity_map",
    "gl_account_map",
    "service_item_map",
    "expense_category_map",
    "dimension_map",
)


@pytest.fixture
def hooks(sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in sandbox_connections(sandbox.vendors()).items():
        monkeypatch.setenv(name, value)
    made = {
        "psa": KantataHook(retry_policy=FAST),
        "erp": NetSuiteHook(retry_policy=FAST),
        "hcm": WorkdayReportReader(retry_policy=FAST),
    }
    yield made
    for hook in made.values():
        hook.close()


@pytest.fixture
def conn(make_database) -> Iterator[psycopg.Connection]:
    url = make_database()
    db.migrate(url)
    with psycopg.connect(url) as connection:
        yield connection


@pytest.fixture
def store(sandbox, server_url: str) -> Iterator[Callable[[str, str], list[dict[str, Any]]]]:
    """``store(vendor, type)``: the records a vendor holds, read from its own database."""
    opened: list[psycopg.Connection] = []

    def records(vendor: str, record_type: str) -> list[dict[str, Any]]:
        url = db.with_database(server_url, f"{sandbox.state['prefix']}_{vendor}")
        connection = psycopg.connect(url, autocommit=True, row_factory=dict_row)
        opened.append(connection)
        rows = connection.execute(
            "SELECT data FROM record WHERE type = %s ORDER BY id", (record_type,)
        ).fetchall()
        return [row["data"] for row in rows]

    yield records
    for connection in opened:
        connection.close()


def load(conn: psycopg.Connection, hooks: dict[str, Any]) -> dict[str, int]:
    return load_reference(
        conn, psa=hooks["psa"], erp=hooks["erp"], hcm=hooks["hcm"], mappings=load_mappings()
    )


def rows(conn: psycopg.Connection, query: str, *params: Any) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query, params).fetchall()


def snapshot(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Every reference row as sorted JSON, load stamps left out."""
    out = {}
    for table in TABLES:
        found = rows(conn, f"SELECT to_jsonb(t) - 'loaded_at' AS row FROM core.{table} t")
        out[table] = sorted(json.dumps(r["row"], sort_keys=True) for r in found)
    return out


def test_counts_per_table_match_the_sandbox_stores(conn, hooks, store):
    counts = load(conn, hooks)
    mapping_rows = load_mappings().rows()
    assert counts == {
        **{table: len(mapping_rows[table]) for table in mapping_rows},
        "project": len(store("psa", "workspaces")),
        "worker": len(store("psa", "users")),
        "worker_assignment": len(store("hcm", "assignment")),
        "cost_rate": len(store("hcm", "cost_rate")),
        "bill_rate": len(store("psa", "rate_card_roles")),
        "accounting_period": len(store("erp", "accountingPeriod")),
    }
    for table in TABLES:
        assert rows(conn, f"SELECT count(*) AS n FROM core.{table}")[0]["n"] == counts[table]


def test_a_mid_period_cost_rate_change_is_two_versions_with_exact_ranges(
    conn, hooks, store, sandbox
):
    load(conn, hooks)
    period = sandbox.admin("GET", "/seed-info")["params"]["period"]
    period_start = date.fromisoformat(f"{period}-01")
    versions: dict[str, list[dict[str, Any]]] = {}
    for version in store("hcm", "cost_rate"):
        versions.setdefault(version["Employee_ID"], []).append(version)
    changed = {
        employee: sorted(vs, key=lambda v: v["Effective_Date"])
        for employee, vs in versions.items()
        if len(vs) > 1 and any(date.fromisoformat(v["Effective_Date"]) > period_start for v in vs)
    }
    assert changed, "the seeded firm has workers whose cost rate changes mid-period"
    for employee, expected in changed.items():
        loaded = rows(
            conn,
            "SELECT effective_date, end_date, hourly_cost, currency FROM core.cost_rate "
            "WHERE hcm_employee_id = %s ORDER BY effective_date",
            employee,
        )
        assert [
            (
                r["effective_date"].isoformat(),
                r["end_date"] and r["end_date"].isoformat(),
                f"{r['hourly_cost']:.2f}",
                r["currency"],
            )
            for r in loaded
        ] == [
            (v["Effective_Date"], v.get("End_Date"), v["Hourly_Cost_Rate"], v["Currency"])
            for v in expected
        ]
        before, after = loaded[-2], loaded[-1]
        assert before["end_date"] == after["effective_date"] - timedelta(days=1)
        assert after["end_date"] is None


def test_periods_projects_and_workers_carry_their_cross_system_ids(conn, hooks, store):
    load(conn, hooks)
    closed = [p for p in store("erp", "accountingPeriod") if p["closed"] and p["isPosting"]]
    assert closed
    for period in closed:
        (loaded,) = rows(
            conn, "SELECT * FROM core.accounting_period WHERE erp_period_id = %s", period["id"]
        )
        assert loaded["closed"] and loaded["is_posting"]
        assert loaded["start_date"].isoformat() == period["startDate"]
        assert loaded["end_date"].isoformat() == period["endDate"]

    mappings = load_mappings()
    jobs = {job["id"]: job for job in store("erp", "job")}
    projects = rows(conn, "SELECT * FROM core.project")
    with_job = [p for p in projects if p["erp_job_id"]]
    assert len(with_job) == len(jobs)
    for project in with_job:
        job = jobs[project["erp_job_id"]]
        assert project["entity_code"] is not None and project["practice_code"] is not None
        entity = next(
            e for e in mappings.entities.values() if e.subsidiary_id == job["subsidiary"]["id"]
        )
        assert project["entity_code"] == entity.code
        assert project["practice_code"] == mappings.practice_for_class(job["class"]["id"]).code
        assert project["crm_opportunity_id"] == job["externalId"]
        assert project["erp_customer_id"] == job["parent"]["id"]
    workspaces = {w["id"]: w for w in store("psa", "workspaces")}
    archived = [p for p in projects if p["archived"]]
    assert archived
    for project in archived:
        assert (
            project["closed_on"].isoformat() == workspaces[project["psa_workspace_id"]]["due_date"]
        )
    assert all(p["closed_on"] is None for p in projects if not p["archived"])

    hcm = {w["Employee_ID"]: w for w in store("hcm", "worker")}
    employees = {e["externalId"]: e["id"] for e in store("erp", "employee")}
    workers = rows(conn, "SELECT * FROM core.worker")
    assert all(w["hcm_employee_id"] in hcm for w in workers)
    for worker in workers:
        expected = hcm[worker["hcm_employee_id"]]
        assert worker["hire_date"].isoformat() == expected["Hire_Date"]
        terminated = expected.get("Termination_Date")
        assert (worker["termination_date"] and worker["termination_date"].isoformat()) == terminated
        assert worker["erp_employee_id"] == employees.get(worker["hcm_employee_id"])
    assert any(w["termination_date"] for w in workers)


def test_reloading_is_idempotent(conn, hooks):
    first = load(conn, hooks)
    before = snapshot(conn)
    assert load(conn, hooks) == first
    assert snapshot(conn) == before


def test_a_failed_source_replaces_nothing_and_names_the_connection(
    conn, hooks, sandbox, monkeypatch
):
    load(conn, hooks)
    before = snapshot(conn)
    hcm = json.loads(sandbox_connections(sandbox.vendors())["AIRFLOW_CONN_HCM_DEFAULT"])
    monkeypatch.setenv("AIRFLOW_CONN_HCM_DEFAULT", json.dumps({**hcm, "password": "wrong-pw"}))
    reader = WorkdayReportReader(retry_policy=FAST)
    with pytest.raises(AuthenticationError, match="connection 'hcm_default'") as failure:
        load_reference(
            conn, psa=hooks["psa"], erp=hooks["erp"], hcm=reader, mappings=load_mappings()
        )
    assert "wrong-pw" not in str(failure.value)
    assert snapshot(conn) == before


def test_the_workday_reader_retries_the_maintenance_page(hooks, sandbox):
    rule = sandbox.admin("POST", "/faults/hcm", json={"kind": "status", "status": 503, "times": 2})
    entries = hooks["hcm"].report("PSA_Worker_Assignments")
    assert entries and all("Employee_ID" in e for e in entries)
    (fault,) = [r for r in sandbox.admin("GET", "/faults/hcm") if r["id"] == rule["id"]]
    assert fault["injected"] == 2
