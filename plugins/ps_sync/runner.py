"""Run this repository's DAGs for real with ``airflow dags test`` and read back the outcome.

Used by ``make demo`` and by the DAG-run tests: the run goes through Airflow's own CLI, in its
own process, against the metadata database configured in the environment, and the result is
read from that database rather than parsed from log text.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from ps_sync.localpg import repo_root


@dataclass(frozen=True)
class DagRunResult:
    """Outcome of one ``airflow dags test`` run."""

    dag_id: str
    run_id: str | None
    state: str | None
    task_states: dict[str, str]
    seconds: float
    output: str

    @property
    def ok(self) -> bool:
        """True when the run and all its tasks succeeded (or were skipped)."""
        return self.state == "success" and all(
            s in {"success", "skipped"} for s in self.task_states.values()
        )


def airflow_bin() -> str:
    """The ``airflow`` executable of the running interpreter's environment."""
    return str(Path(sys.executable).with_name("airflow"))


def metadata_libpq_url(env: dict[str, str] | None = None) -> str:
    """libpq URL of Airflow's metadata database, from the SQLAlchemy setting."""
    url = (env or os.environ)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    scheme, rest = url.split("://", 1)
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


def migrate_metadata(env: dict[str, str] | None = None) -> None:
    """Create or upgrade Airflow's metadata database (``airflow db migrate``)."""
    proc = subprocess.run(
        [airflow_bin(), "db", "migrate"],
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"airflow db migrate failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        )


def run_dag(
    dag_id: str,
    *,
    conf: dict[str, Any] | None = None,
    logical_date: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 1800,
) -> DagRunResult:
    """Run ``dag_id`` once with ``airflow dags test`` and return its final state.

    Args:
        dag_id: the DAG (file stem in ``dags/``).
        conf: run configuration (the Params a user would fill in the trigger form).
        logical_date: ISO date-time of the run; default now.
        env: environment (default: this process's).
        timeout: seconds before the run is killed.
    """
    env = dict(env or os.environ)
    cmd = [airflow_bin(), "dags", "test", dag_id]
    if logical_date:
        cmd.append(logical_date)
    if conf:
        cmd += ["--conf", json.dumps(conf)]
    with psycopg.connect(metadata_libpq_url(env)) as conn:
        # Runs of past dates get start_date = their logical date, so find the new run by id.
        before = conn.execute(
            "SELECT coalesce(max(id), 0) FROM dag_run WHERE dag_id = %s", (dag_id,)
        ).fetchone()[0]
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False, cwd=repo_root()
    )
    seconds = time.perf_counter() - started
    output = proc.stdout + proc.stderr
    with psycopg.connect(metadata_libpq_url(env)) as conn:
        row = conn.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = %s AND id > %s "
            "ORDER BY id DESC LIMIT 1",
            (dag_id, before),
        ).fetchone()
        tasks: dict[str, str] = {}
        if row:
            for task_id, map_index, state in conn.execute(
                "SELECT task_id, map_index, state FROM task_instance "
                "WHERE dag_id = %s AND run_id = %s",
                (dag_id, row[0]),
            ):
                key = task_id if map_index < 0 else f"{task_id}[{map_index}]"
                tasks[key] = state or "none"
    return DagRunResult(
        dag_id=dag_id,
        run_id=row[0] if row else None,
        state=row[1] if row else None,
        task_states=tasks,
        seconds=seconds,
        output=output,
    )
