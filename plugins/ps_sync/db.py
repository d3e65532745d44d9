"""Database access and schema migrations for ps-sync's PostgreSQL store.

The store holds five schemas (DESIGN §2): ``staging``, ``core``, ``posting``, ``ops`` and
``analytics``. Their DDL lives in ``include/sql/ddl/`` as ordered files named
``NNNN_description.sql``. :func:`migrate` applies the ones not yet applied, each in its own
transaction, records them in ``ops.schema_migration`` with a checksum, and refuses to run when an
applied file was edited afterwards (add a new migration instead). Concurrent migrators serialise
on an advisory lock, so two processes migrating at once apply every file exactly once.

Command line::

    python -m ps_sync.db migrate            # uses PS_SYNC_DB_URL
    python -m ps_sync.db status
    python -m ps_sync.db create-database NAME
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

DDL_DIR = Path(__file__).resolve().parents[2] / "include" / "sql" / "ddl"
MIGRATION_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")
# Any constant works; it only has to be the same for every ps-sync migrator.
_MIGRATION_LOCK_KEY = 0x5053_5359  # "PSSY"
_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.schema_migration (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    applied_by  text        NOT NULL
);
"""


class ConfigurationError(RuntimeError):
    """Configuration is missing or wrong; the message says what to set."""


class MigrationError(RuntimeError):
    """The migration files or the recorded history are inconsistent."""


def database_url(conn_id: str | None = None) -> str:
    """Return the ps-sync database URL.

    Args:
        conn_id: an Airflow connection id. When given, the URL comes from that Airflow
            Connection (the way tasks get it); otherwise from ``PS_SYNC_DB_URL``.

    Returns:
        A libpq URL (``postgresql://…``).

    Raises:
        ConfigurationError: neither source is configured.
    """
    if conn_id:
        from airflow.sdk import BaseHook  # noqa: PLC0415 - tasks only; keeps the CLI light

        conn = BaseHook.get_connection(conn_id)
        uri = conn.get_uri()
        # Airflow renders the postgres conn_type as postgres://; libpq accepts both, but keep
        # one spelling. Airflow-only extras (e.g. __extra__) are not libpq options.
        uri = re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", uri)
        return re.sub(r"[?&]__extra__=[^&]*", "", uri)
    url = os.environ.get("PS_SYNC_DB_URL")
    if not url:
        raise ConfigurationError(
            "PS_SYNC_DB_URL is not set. Set it to a PostgreSQL URL "
            "(e.g. postgresql://postgres@127.0.0.1:5432/ps_sync), or run through `make`, "
            "which starts a private server under .local/pg when it is unset."
        )
    return url


def connect(url: str | None = None, **kwargs: object) -> psycopg.Connection:
    """Open a psycopg 3 connection to ``url`` (default: :func:`database_url`)."""
    return psycopg.connect(url or database_url(), **kwargs)  # type: ignore[arg-type]


def with_database(url: str, database: str) -> str:
    """Return ``url`` pointing at another database on the same server."""
    if "://" in url:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(path="/" + quote(database)))
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]


def create_database(server_url: str, name: str, *, if_missing: bool = True) -> None:
    """Create database ``name`` on the server that ``server_url`` points at."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and if_missing:
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(server_url: str, name: str) -> None:
    """Drop database ``name`` (disconnecting its sessions) if it exists."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@dataclass(frozen=True)
class Migration:
    """One DDL file."""

    version: int
    name: str
    path: Path
    sql: str
    checksum: str


@dataclass
class MigrationResult:
    """What :func:`migrate` did."""

    applied: list[int] = field(default_factory=list)
    already_applied: list[int] = field(default_factory=list)


def discover(ddl_dir: Path = DDL_DIR) -> list[Migration]:
    """Read and order the migration files in ``ddl_dir``.

    Raises:
        MigrationError: a file is misnamed or two files share a version.
    """
    migrations: dict[int, Migration] = {}
    for path in sorted(ddl_dir.glob("*.sql")):
        match = MIGRATION_FILE.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files must be named NNNN_lowercase_name.sql")
        version = int(match["version"])
        if version in migrations:
            raise MigrationError(
                f"{path}: version {version:04d} is also used by {migrations[version].path.name}"
            )
        text = path.read_text(encoding="utf-8")
        migrations[version] = Migration(
            version=version,
            name=match["name"],
            path=path,
            sql=text,
            checksum=hashlib.sha256(text.encode()).hexdigest(),
        )
    return [migrations[v] for v in sorted(migrations)]


@contextmanager
def _migration_lock(conn: psycopg.Connection) -> Iterator[None]:
    conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK_KEY,))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK_KEY,))


def applied_versions(conn: psycopg.Connection) -> dict[int, str]:
    """Return ``{version: checksum}`` of the migrations recorded as applied."""
    exists = conn.execute("SELECT to_regclass('ops.schema_migration')").fetchone()
    if not exists or exists[0] is None:
        return {}
    rows = conn.execute("SELECT version, checksum FROM ops.schema_migration").fetchall()
    return {int(v): str(c) for v, c in rows}


def migrate(
    url: str | None = None, *, ddl_dir: Path = DDL_DIR, applied_by: str = "cli"
) -> MigrationResult:
    """Apply the migrations in ``ddl_dir`` that the database has not recorded yet.

    Args:
        url: database URL (default: :func:`database_url`).
        ddl_dir: folder of ``NNNN_name.sql`` files.
        applied_by: who applied them (``cli``, or the Airflow run that did), for the record.

    Returns:
        The versions applied now and those found already applied.

    Raises:
        MigrationError: an applied migration's file changed, or the database records a version
            that no longer exists in ``ddl_dir``.
    """
    migrations = discover(ddl_dir)
    result = MigrationResult()
    with connect(url, autocommit=True) as conn, _migration_lock(conn):
        with conn.transaction():
            conn.execute(_BOOTSTRAP)
        done = applied_versions(conn)
        known = {m.version for m in migrations}
        unknown = sorted(set(done) - known)
        if unknown:
            raise MigrationError(
                f"the database records migrations {unknown} that are not in {ddl_dir}; "
                "is this checkout older than the database?"
            )
        for migration in migrations:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"{migration.path.name} was edited after it was applied "
                        f"(checksum differs); add a new migration file instead"
                    )
                result.already_applied.append(migration.version)
                continue
            with conn.transaction():
                conn.execute(migration.sql)  # type: ignore[arg-type] - trusted repository file
                conn.execute(
                    "INSERT INTO ops.schema_migration (version, name, checksum, applied_by) "
                    "VALUES (%s, %s, %s, %s)",
                    (migration.version, migration.name, migration.checksum, applied_by),
                )
            result.applied.append(migration.version)
    return result


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m ps_sync.db", description="ps-sync database tools"
    )
    parser.add_argument("--url", help="database URL (default: PS_SYNC_DB_URL)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply pending migrations from include/sql/ddl")
    sub.add_parser("status", help="list migrations and whether each is applied")
    create = sub.add_parser("create-database", help="create a database on the same server")
    create.add_argument("name")
    args = parser.parse_args(argv)
    url = args.url or database_url()
    if args.command == "migrate":
        result = migrate(url)
        detail = f" ({', '.join(f'{v:04d}' for v in result.applied)})" if result.applied else ""
        print(
            f"migrations applied: {len(result.applied)}{detail}; "
            f"already applied: {len(result.already_applied)}"
        )
    elif args.command == "status":
        with connect(url) as conn:
            done = applied_versions(conn)
        for m in discover():
            print(f"{m.version:04d} {m.name:40} {'applied' if m.version in done else 'pending'}")
    else:
        create_database(url, args.name)
        print(f"database {args.name} ready")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ConfigurationError, MigrationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
