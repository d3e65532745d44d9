"""The db_migrate DAG, run for real through Airflow (airflow dags test)."""

from __future__ import annotations

import psycopg

from ps_sync import db, runner


def test_db_migrate_dag_migrates_then_is_a_no_op(airflow_metadata, make_database):
    url = make_database()
    env = {**airflow_metadata, "AIRFLOW_CONN_PS_SYNC_DB": url}
    first = runner.run_dag("db_migrate", env=env)
    assert first.ok, first.output[-3000:]
    assert first.task_states == {"apply_migrations": "success"}
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT version, applied_by FROM ops.schema_migration ORDER BY 1"
        ).fetchall()
    assert [r[0] for r in rows] == [m.version for m in db.discover()]
    # Recorded with the run that applied them: dag_id/run_id/task_id/try.
    assert all(r[1].startswith(f"db_migrate/{first.run_id}/apply_migrations/try") for r in rows)

    second = runner.run_dag("db_migrate", env=env)
    assert second.ok, second.output[-3000:]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM ops.schema_migration").fetchone()[0] == len(rows)
