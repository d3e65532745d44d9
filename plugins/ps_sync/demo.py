"""``make demo``: run ps-sync's main job end to end against the local stack.

At this stage of the project the job is: migrate the ps-sync database, start the sandbox vendor
systems with the seeded firm (its own databases on the same server), create Airflow's metadata
database, run every DAG in ``dags/`` through Airflow for real, and print a summary. Later issues
run a billing period through every workflow against the sandbox.
"""

from __future__ import annotations

import collections
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ps_sync import db, policy, runner
from ps_sync.connections import sandbox_connections
from ps_sync.localpg import repo_root

# The demo firm: big enough to look like a month at a small consultancy, seeded in seconds.
DEMO_SEED: dict[str, Any] = {"seed": 42, "time_entries": 5000}

DEMO_DATABASE = "ps_sync_demo"

# The seeded firm's month is 2026-10 (the month before is closed in the ERP).
CATCH_UP_FROM = "2026-08-01T00:00:00+00:00"

# Order matters: the schema first, then master data, then the postings that depend on it.
DAG_ORDER = [
    "db_migrate",
    "master_data_sync",
    "approved_time_expense",
    "invoice_feedback",
    "close_window_checks",
    "analytics_refresh",
]


def redact(url: str) -> str:
    """Hide a password in a URL before it is printed."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def run_dags(env: dict[str, str], as_of: str) -> int:
    """Run every DAG once, in workflow order, as of the seeded firm's date; return the failures.

    The runs are dated the morning after the seeded month's as-of date and catch up from the
    start of the month before (the ``since`` Param), so they see the whole seeded period.
    """
    present = [p.stem for p in policy.dag_files(repo_root() / "dags")]
    ordered = [d for d in DAG_ORDER if d in present] + sorted(set(present) - set(DAG_ORDER))
    failures = 0
    for dag_id in ordered:
        conf = {"since": CATCH_UP_FROM} if dag_id == "approved_time_expense" else None
        run = runner.run_dag(dag_id, conf=conf, logical_date=f"{as_of}T06:00:00+00:00", env=env)
        tasks = ", ".join(f"{t}={s}" for t, s in sorted(run.task_states.items()))
        print(f"dag {dag_id:28} {run.state or 'not run':8} {run.seconds:6.1f}s  [{tasks}]")
        if not run.ok:
            failures += 1
            print(run.output[-4000:], file=sys.stderr)
    return failures


def print_postings(url: str) -> None:
    """What approved_time_expense posted and held, with totals per legal entity."""
    with db.connect(url) as conn:
        if conn.execute("SELECT to_regclass('posting.document')").fetchone()[0] is None:
            return
        for doc_type, entity, n, hours, amount, currency in conn.execute(
            "SELECT doc_type, entity_code, count(*), sum(control_hours), sum(control_amount), "
            "min(currency) FROM posting.document WHERE status = 'confirmed' "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        ):
            print(
                f"posted  {doc_type:13} {entity:5} {n:5} documents  "
                f"{hours or 0:10.2f} h  {amount or 0:12.2f} {currency or ''}"
            )
        for rule, n, minutes in conn.execute(
            "SELECT rule_id, count(*), sum(minutes) FROM ops.exception WHERE status = 'open' "
            "GROUP BY 1 ORDER BY 1"
        ):
            print(f"held    {rule:28} {n:4} records  {(minutes or 0) / 60:8.2f} h")
        held, accepted, minutes_held, minutes_accepted = conn.execute(
            "SELECT count(*) FILTER (WHERE state = 'held'), "
            "count(*) FILTER (WHERE state = 'accepted'), "
            "sum(minutes) FILTER (WHERE state = 'held'), "
            "sum(minutes) FILTER (WHERE state = 'accepted') "
            "FROM core.time_entry WHERE state IN ('accepted', 'held')"
        ).fetchone()
        print(
            f"time entries: {accepted} accepted ({(minutes_accepted or 0) / 60:.2f} h), "
            f"{held} held ({(minutes_held or 0) / 60:.2f} h)"
        )


def main() -> int:
    """Run the demo; exit status 0 only when every DAG run succeeded."""
    started = time.perf_counter()
    # The demo's own store, recreated each run like the sandbox it posts to, so every run
    # starts from the seeded firm and empty books (and never touches PS_SYNC_DB_URL's data).
    url = db.with_database(db.database_url(), DEMO_DATABASE)
    server = db.with_database(url, "postgres")
    db.drop_database(server, DEMO_DATABASE)
    db.create_database(server, DEMO_DATABASE)
    print(f"ps-sync demo — database {redact(url)}")
    result = db.migrate(url, applied_by="demo")
    print(
        f"schema: applied {len(result.applied)} migration(s), "
        f"{len(result.already_applied)} already applied"
    )
    runner.migrate_metadata()
    print("airflow metadata database: migrated")

    from sandbox.testing import start_sandbox  # noqa: PLC0415 - the demo's vendor systems

    sandbox = start_sandbox(url, "sandbox", seed=DEMO_SEED)
    try:
        # Seed again every run (0.3 s): a previous demo's writes are gone, and the firm is the
        # one the current generator makes, not a snapshot from an older checkout.
        info = sandbox.admin("POST", "/seed", json=DEMO_SEED)
        for name, vendor in sandbox.vendors().items():
            counts = info["counts"].get(name, {})
            top = ", ".join(
                f"{t} {n}" for t, n in sorted(counts.items(), key=lambda kv: -kv[1])[:4]
            )
            print(f"sandbox {name}: {vendor['title']:48} {vendor['base_url']}  [{top}]")
        by_class = collections.Counter(d["defect_class"] for d in sandbox.admin("GET", "/manifest"))
        print(
            f"sandbox defects planted: {sum(by_class.values())} in {len(by_class)} classes "
            f"(seeded in {info['seconds']:.1f}s)"
        )
        env = {
            **os.environ,
            **sandbox_connections(sandbox.vendors()),
            "AIRFLOW_CONN_PS_SYNC_DB": url,
            "PS_SYNC_DB_URL": url,
        }
        failures = run_dags(env, info["params"]["as_of"])
        if "approved_time_expense" in DAG_ORDER:
            print_postings(url)
    finally:
        sandbox.stop()

    with db.connect(url) as conn:
        versions = conn.execute(
            "SELECT count(*), max(version) FROM ops.schema_migration"
        ).fetchone()
        schemas = conn.execute(
            "SELECT string_agg(nspname, ', ' ORDER BY nspname) FROM pg_namespace "
            "WHERE nspname IN ('staging', 'core', 'posting', 'ops', 'analytics')"
        ).fetchone()
    print(
        f"summary: {versions[0]} migrations recorded (latest {versions[1]:04d}); "
        f"schemas: {schemas[0]}"
    )
    dag_count = len(policy.dag_files(repo_root() / "dags"))
    print(
        f"summary: {dag_count - failures}/{dag_count} DAG runs succeeded "
        f"in {time.perf_counter() - started:.1f}s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
