"""approved_time_expense run for real (airflow dags test) against the seeded sandbox.

The books are checked at the end of every scenario: ERP documents against source records (no
duplicates, nothing missing), control totals, lineage, the exception queue against the
generator's manifest.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ps_sync import db, runner
from ps_sync.connections import sandbox_connections
from sandbox.store import VendorStore

DAG_ID = "approved_time_expense"
ROOT = Path(__file__).resolve().parents[2]
SINCE = "2026-08-01T00:00:00+00:00"


@pytest.fixture
def env(airflow_metadata, make_database, sandbox, server_url, tmp_path) -> dict[str, Any]:
    url = make_database()
    db.migrate(url)
    as_of = sandbox.admin("GET", "/seed-info")["params"]["as_of"]
    return {
        "env": {
            **airflow_metadata,
            "AIRFLOW_CONN_PS_SYNC_DB": url,
            "PS_SYNC_DB_URL": url,
            **sandbox_connections(sandbox.vendors()),
        },
        "url": url,
        "sandbox": sandbox,
        "as_of": as_of,
        "manifest": sandbox.admin("GET", "/manifest"),
        "psa_store": VendorStore(server_url, sandbox.state["prefix"], "psa"),
        "log": tmp_path / "killed_run.log",
    }


def run(env: dict, *, hour: int = 0, **conf: Any) -> runner.DagRunResult:
    result = runner.run_dag(
        DAG_ID,
        conf={"since": SINCE, **conf},
        logical_date=f"{env['as_of']}T{hour:02d}:00:00+00:00",
        env=env["env"],
    )
    assert result.ok, result.output[-6000:]
    return result


def query(env: dict, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(env["url"]) as conn:
        return conn.execute(sql, params).fetchall()


def erp_writes(env: dict) -> list[dict]:
    return [
        w
        for w in env["sandbox"].admin("GET", "/posted/erp", params={"limit": 100000})
        if 200 <= w["status"] < 300
    ]


def expected_holds(env: dict) -> collections.Counter:
    return collections.Counter(
        d["expected_rule"]
        for d in env["manifest"]
        if d["system"] == "psa" and d["expected_rule"] != "ACCEPT"
    )


def check_books(env: dict) -> None:
    """No duplicates, nothing lost, totals tie, lineage complete."""
    # Every open exception is a planted defect under the rule the manifest names, or time whose
    # project or worker the ERP does not know yet (master-data sync creates them), checked here
    # against the PSA's own cross-references.
    exceptions = query(env, "SELECT source_id, rule_id FROM ops.exception WHERE status = 'open'")
    not_in_erp = [source_id for source_id, rule in exceptions if rule == "TE_NOT_IN_ERP"]
    held = collections.Counter(rule for _, rule in exceptions if rule != "TE_NOT_IN_ERP")
    assert held == expected_holds(env)
    planted = {
        (d["source_id"], d["expected_rule"]) for d in env["manifest"] if d["system"] == "psa"
    }
    assert all(
        (source_id, rule) in planted for source_id, rule in exceptions if rule != "TE_NOT_IN_ERP"
    )
    if not_in_erp:
        with env["psa_store"].connection() as conn:
            refs = {
                (r["data"]["subject_type"], r["data"]["subject_id"])
                for r in conn.execute(
                    "SELECT data FROM record WHERE type = 'external_references' "
                    "AND data->>'service_name' = 'NetSuite'"
                )
            }
            entries = {
                r["id"]: r["data"]
                for r in conn.execute(
                    "SELECT id::text AS id, data FROM record WHERE type = 'time_entries' "
                    "AND id = ANY(%s::bigint[])",
                    (not_in_erp,),
                )
            }
        for source_id in not_in_erp:
            e = entries[source_id]
            job = ("Workspace", e["workspace_id"]) in refs
            employee = ("User", e["user_id"]) in refs
            assert not job or (e["billable"] and not employee), f"entry {source_id} is in the ERP"
    # Each document is in the ERP exactly once, confirmed, with the ERP's id.
    docs = query(env, "SELECT external_id, status, erp_id FROM posting.document")
    assert docs and all(status == "confirmed" and erp_id for _, status, erp_id in docs)
    per_external_id = collections.Counter(
        w["external_id"] for w in erp_writes(env) if w["external_id"]
    )
    assert set(per_external_id) == {d[0] for d in docs}
    # Every accepted time entry is on one journal; every billable one on one time bill.
    unposted = query(
        env,
        "SELECT count(*) FROM core.time_entry WHERE state = 'accepted' "
        "AND (journal_document_id IS NULL OR (billable AND time_bill_document_id IS NULL))",
    )
    assert unposted == [(0,)]
    # Totals tie: accepted + held = extracted (current versions), in count and minutes.
    extracted = query(
        env,
        "SELECT count(DISTINCT source_id) FROM staging.record "
        "WHERE source_system = 'psa' AND entity = 'time_entries'",
    )[0][0]
    accepted_held = query(
        env, "SELECT count(*) FROM core.time_entry WHERE state IN ('accepted', 'held')"
    )[0][0]
    assert accepted_held == extracted
    journal_hours = query(
        env,
        "SELECT coalesce(sum(l.hours), 0) FROM posting.document_line l "
        "JOIN posting.document d USING (document_id) "
        "WHERE d.doc_type = 'journalEntry' AND l.debit IS NOT NULL",
    )[0][0]
    accepted_hours = query(
        env, "SELECT coalesce(sum(minutes), 0) / 60.0 FROM core.time_entry WHERE state = 'accepted'"
    )[0][0]
    assert round(float(journal_hours), 2) == round(float(accepted_hours), 2)
    # Every ERP line traces back to at least one source record version and the run that posted it.
    orphans = query(
        env,
        "SELECT count(*) FROM posting.document_line l WHERE NOT EXISTS "
        "(SELECT 1 FROM posting.lineage g WHERE g.document_id = l.document_id "
        "AND g.line_no = l.line_no AND g.dag_id = %s)",
        (DAG_ID,),
    )
    assert orphans == [(0,)]
    # The documented lineage query answers from an ERP id back to the timesheet.
    lineage_sql = (
        ROOT / "include" / "sql" / "reconcile" / "lineage_of_erp_document.sql"
    ).read_text()
    erp_id = query(
        env, "SELECT erp_id FROM posting.document WHERE doc_type = 'journalEntry' LIMIT 1"
    )[0][0]
    with psycopg.connect(env["url"]) as conn:
        rows = conn.execute(lineage_sql, {"erp_id": erp_id, "external_id": None}).fetchall()
        names = [
            c.name
            for c in conn.execute(lineage_sql, {"erp_id": erp_id, "external_id": None}).description
        ]
    assert rows
    for row in (dict(zip(names, r, strict=True)) for r in rows):
        assert row["entity"] == "time_entries" and row["source_id"] and row["source_version"]
        assert row["cost_rate"] is not None and row["cost_rate_effective_date"] is not None
        assert row["staging_id"] and row["dag_id"] == DAG_ID and row["run_id"] and row["try_number"]


def test_one_run_posts_every_valid_entry_once_and_holds_every_planted_defect(env):
    run(env)
    check_books(env)
    writes = len(erp_writes(env))
    # Re-running the same interval, and a later run over the same window, post nothing new.
    run(env, hour=0)
    run(env, hour=2)
    assert len(erp_writes(env)) == writes
    check_books(env)


def test_dry_run_previews_and_sends_nothing(env):
    result = run(env, dry_run=True)
    assert result.task_states["post_documents"] == "success"
    assert erp_writes(env) == []
    assert query(env, "SELECT count(*) FROM posting.document") == [(0,)]
    assert "GL impact preview" in result.output


def test_killed_while_posting_then_rerun_posts_nothing_twice_and_loses_nothing(env):
    sandbox = env["sandbox"]
    # A slow ERP (its concurrency limit as the connection's max_concurrency): posting takes
    # long enough to be killed half-way.
    sandbox.admin("PATCH", "/switches/erp", json={"latency_ms": 250, "concurrency_limit": 10})
    cmd = [
        runner.airflow_bin(),
        "dags",
        "test",
        DAG_ID,
        f"{env['as_of']}T00:00:00+00:00",
        "--conf",
        json.dumps({"since": SINCE}),
    ]
    log = open(env["log"], "wb")  # noqa: SIM115 - closed after the process ends
    proc = subprocess.Popen(
        cmd,
        env=env["env"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline:
            confirmed = query(
                env, "SELECT count(*) FROM posting.document WHERE status = 'confirmed'"
            )
            if confirmed[0][0] >= 5:
                break
            assert proc.poll() is None, (
                "the run ended before it could be killed:\n" + env["log"].read_text()[-3000:]
            )
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
        log.close()
    pending = query(env, "SELECT count(*) FROM posting.document WHERE status = 'pending'")[0][0]
    assert pending > 0, "the kill came after posting finished; nothing was tested"
    sandbox.admin("PATCH", "/switches/erp", json={"latency_ms": 0, "concurrency_limit": 15})
    run(env, hour=2)
    check_books(env)


def test_responses_lost_after_the_erp_committed_are_not_posted_twice(env):
    env["sandbox"].admin(
        "POST",
        "/faults/erp",
        json={
            "kind": "drop_after_commit",
            "method": "PUT",
            "route": "/services/rest/record/v1/*",
            "times": 5,
        },
    )
    run(env)
    faults = env["sandbox"].admin("GET", "/faults/erp")
    assert any(f["kind"] == "drop_after_commit" and f["injected"] == 5 for f in faults)
    check_books(env)
