"""Schema migrations against a real PostgreSQL server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from ps_sync import db


def schema_snapshot(url: str) -> list[tuple]:
    """Every table, column and index of ps-sync's schemas."""
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_schema, table_name, column_name, data_type, is_nullable "
            "FROM information_schema.columns WHERE table_schema IN "
            "('staging','core','posting','ops','analytics') ORDER BY 1, 2, 3"
        ).fetchall()
        indexes = conn.execute(
            "SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname IN "
            "('staging','core','posting','ops','analytics') ORDER BY 1, 2"
        ).fetchall()
    return columns + indexes


def test_first_run_applies_every_file_and_creates_the_five_schemas(make_database):
    url = make_database()
    result = db.migrate(url)
    versions = [m.version for m in db.discover()]
    assert result.applied == versions
    assert result.already_applied == []
    with psycopg.connect(url) as conn:
        schemas = {r[0] for r in conn.execute("SELECT nspname FROM pg_namespace")}
        recorded = conn.execute(
            "SELECT version, checksum, applied_by FROM ops.schema_migration ORDER BY version"
        ).fetchall()
    assert {"staging", "core", "posting", "ops", "analytics"} <= schemas
    assert [r[0] for r in recorded] == versions
    assert [r[1] for r in recorded] == [m.checksum for m in db.discover()]
    assert {r[2] for r in recorded} == {"cli"}


def test_running_migrations_twice_changes_nothing(make_database):
    url = make_database()
    db.migrate(url)
    before = schema_snapshot(url)
    with psycopg.connect(url) as conn:
        history_before = conn.execute(
            "SELECT * FROM ops.schema_migration ORDER BY version"
        ).fetchall()
    second = db.migrate(url)
    assert second.applied == []
    assert second.already_applied == [m.version for m in db.discover()]
    assert schema_snapshot(url) == before
    with psycopg.connect(url) as conn:
        history_after = conn.execute(
            "SELECT * FROM ops.schema_migration ORDER BY version"
        ).fetchall()
    assert history_after == history_before


def test_a_new_file_is_applied_on_top_of_existing_ones(make_database, tmp_path):
    url = make_database()
    ddl = tmp_path / "ddl"
    shutil.copytree(db.DDL_DIR, ddl)
    db.migrate(url, ddl_dir=ddl)
    (ddl / "9001_extra_table.sql").write_text("CREATE TABLE ops.extra (id int);\n")
    result = db.migrate(url, ddl_dir=ddl)
    assert result.applied == [9001]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('ops.extra')").fetchone()[0] == "ops.extra"


def test_editing_an_applied_migration_is_refused(make_database, tmp_path):
    url = make_database()
    ddl = tmp_path / "ddl"
    shutil.copytree(db.DDL_DIR, ddl)
    db.migrate(url, ddl_dir=ddl)
    first = sorted(ddl.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(db.MigrationError, match=f"{first.name} was edited after it was applied"):
        db.migrate(url, ddl_dir=ddl)


def test_a_failing_migration_rolls_back_and_is_not_recorded(make_database, tmp_path):
    url = make_database()
    ddl = tmp_path / "ddl"
    shutil.copytree(db.DDL_DIR, ddl)
    (ddl / "9001_broken.sql").write_text(
        "CREATE TABLE ops.half (id int);\nSELECT * FROM no_such_table;\n"
    )
    with pytest.raises(psycopg.errors.UndefinedTable):
        db.migrate(url, ddl_dir=ddl)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('ops.half')").fetchone()[0] is None
        versions = [r[0] for r in conn.execute("SELECT version FROM ops.schema_migration")]
    assert 9001 not in versions
    assert len(versions) == len(db.discover())


def test_database_ahead_of_checkout_is_refused(make_database, tmp_path):
    url = make_database()
    ddl = tmp_path / "ddl"
    shutil.copytree(db.DDL_DIR, ddl)
    (ddl / "9001_newer.sql").write_text("SELECT 1;\n")
    db.migrate(url, ddl_dir=ddl)
    with pytest.raises(db.MigrationError, match=r"records migrations \[9001\]"):
        db.migrate(url)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["0001_a.sql", "1_b.sql"], "must be named NNNN_lowercase_name.sql"),
        (["0001_a.sql", "0001_b.sql"], "version 0001 is also used by"),
    ],
)
def test_misnamed_or_duplicate_files_are_rejected(tmp_path, names, message):
    for name in names:
        (tmp_path / name).write_text("SELECT 1;\n")
    with pytest.raises(db.MigrationError, match=message):
        db.discover(tmp_path)


def test_concurrent_migrators_apply_each_file_exactly_once(make_database):
    url = make_database()
    results: list[db.MigrationResult] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(db.migrate(url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    applied = sorted(v for r in results for v in r.applied)
    assert applied == [m.version for m in db.discover()]


def test_cli_migrate_and_status(make_database):
    url = make_database()
    env = {**os.environ, "PS_SYNC_DB_URL": url}
    first = subprocess.run(
        [sys.executable, "-m", "ps_sync.db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    n = len(db.discover())
    assert f"migrations applied: {n}" in first.stdout
    second = subprocess.run(
        [sys.executable, "-m", "ps_sync.db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"migrations applied: 0; already applied: {n}" in second.stdout
    status = subprocess.run(
        [sys.executable, "-m", "ps_sync.db", "status"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout.count("applied") == n and "pending" not in status.stdout


def test_cli_without_a_database_url_says_what_to_set():
    env = {k: v for k, v in os.environ.items() if k != "PS_SYNC_DB_URL"}
    proc = subprocess.run(
        [sys.executable, "-m", "ps_sync.db", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "PS_SYNC_DB_URL is not set" in proc.stderr


def test_ddl_folder_is_where_the_layout_says():
    assert Path(__file__).resolve().parents[2] / "include" / "sql" / "ddl" == db.DDL_DIR
