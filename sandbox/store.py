"""Storage for the sandbox vendor services: one PostgreSQL database per vendor.

Every vendor keeps its records as JSON documents in its own database (``<prefix>_<vendor>``,
never ps-sync's store), in the vendor's own wire format, so a service serves what it stores:

``record``      one row per (type, id): the document, its external id, created/updated stamps.
``record_seed`` a copy of ``record`` taken after seeding; ``reset`` restores it in one statement.
``write_log``   every write a client made (method, path, record, status, body): what was posted.
``kv``          small service state (issued tokens, async jobs, idempotency keys).

Vendors add their own indexes (expression indexes on the JSON fields they filter by) through
``Vendor.ddl``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from ps_sync.db import create_database, drop_database, with_database

BASE_DDL = """
CREATE TABLE IF NOT EXISTS record (
    type        text        NOT NULL,
    id          bigint      NOT NULL,
    external_id text,
    data        jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (type, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS record_external_id_uq ON record (type, external_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS record_updated_idx ON record (type, updated_at, id);
CREATE TABLE IF NOT EXISTS record_seed (LIKE record INCLUDING DEFAULTS);
-- Ids the generator assigns stay below 10^8; ids the services create start above.
CREATE SEQUENCE IF NOT EXISTS record_id_seq START 100000001;
CREATE TABLE IF NOT EXISTS write_log (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    method          text        NOT NULL,
    path            text        NOT NULL,
    record_type     text,
    record_id       bigint,
    external_id     text,
    status          integer     NOT NULL,
    body            jsonb,
    idempotency_key text
);
CREATE TABLE IF NOT EXISTS kv (
    key   text PRIMARY KEY,
    value jsonb NOT NULL
);
"""


@dataclass(frozen=True)
class RecordRow:
    """A record as the generator hands it to :meth:`VendorStore.copy_records`."""

    type: str
    id: int
    data: dict[str, Any]
    external_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class VendorStore:
    """One vendor's database.

    Args:
        server_url: URL of any database on the PostgreSQL server (the maintenance DB is fine).
        prefix: database name prefix, so several sandboxes (test sessions) share a server.
        vendor: ``psa`` | ``erp`` | ``crm`` | ``hcm`` | ``admin``.
        extra_ddl: the vendor's own indexes and tables.
    """

    def __init__(self, server_url: str, prefix: str, vendor: str, extra_ddl: str = "") -> None:
        self.server_url = with_database(server_url, "postgres")
        self.dbname = f"{prefix}_{vendor}"
        self.url = with_database(server_url, self.dbname)
        self.vendor = vendor
        self.extra_ddl = extra_ddl
        self._pool: ConnectionPool | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def ensure(self) -> None:
        """Create the database and its tables if missing."""
        create_database(self.server_url, self.dbname)
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(BASE_DDL)
            if self.extra_ddl:
                conn.execute(self.extra_ddl)  # type: ignore[arg-type]

    def drop(self) -> None:
        """Drop the database (closing the pool first)."""
        self.close()
        drop_database(self.server_url, self.dbname)

    @property
    def pool(self) -> ConnectionPool:
        """A lazily opened connection pool (dict rows)."""
        if self._pool is None:
            self._pool = ConnectionPool(
                self.url,
                min_size=1,
                max_size=12,
                open=True,
                kwargs={"row_factory": dict_row, "autocommit": False},
                name=f"sandbox-{self.vendor}",
            )
        return self._pool

    def close(self) -> None:
        """Close the pool."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; commits on success, rolls back on error."""
        with self.pool.connection() as conn:
            yield conn

    # --- seeding and reset ---------------------------------------------------------------

    def truncate(self) -> None:
        """Remove every record, seed snapshot, write and state."""
        with self.connection() as conn:
            conn.execute("TRUNCATE record, record_seed, write_log, kv")
            conn.execute("ALTER SEQUENCE record_id_seq RESTART WITH 100000001")

    def copy_records(self, rows: Iterable[RecordRow]) -> int:
        """Bulk-load records with COPY. Returns the number of rows loaded.

        Rows without stamps (hand-made fixtures) get one "now" for the whole load; generated
        rows always carry their own, so seeding stays deterministic.
        """
        count = 0
        now = datetime.now(UTC)
        with (
            self.connection() as conn,
            conn.cursor() as cur,
            cur.copy(
                "COPY record (type, id, external_id, data, created_at, updated_at) FROM STDIN"
            ) as copy,
        ):
            for row in rows:
                copy.write_row(
                    (
                        row.type,
                        row.id,
                        row.external_id,
                        json.dumps(row.data, ensure_ascii=False, separators=(",", ":")),
                        row.created_at or row.updated_at or now,
                        row.updated_at or row.created_at or now,
                    )
                )
                count += 1
        return count

    def snapshot_seed(self) -> None:
        """Remember the current records as the seeded state that :meth:`reset` restores."""
        with self.connection() as conn:
            conn.execute("TRUNCATE record_seed")
            conn.execute("INSERT INTO record_seed SELECT * FROM record")
            conn.execute("ANALYZE record")

    def reset(self) -> None:
        """Restore the seeded state: records as seeded, no writes, no state."""
        with self.connection() as conn:
            conn.execute("TRUNCATE record, write_log, kv")
            conn.execute("INSERT INTO record SELECT * FROM record_seed")
            conn.execute("ALTER SEQUENCE record_id_seq RESTART WITH 100000001")

    # --- records -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Number of records per type."""
        with self.connection() as conn:
            rows = conn.execute("SELECT type, count(*) AS n FROM record GROUP BY type").fetchall()
        return {r["type"]: r["n"] for r in rows}

    def get(self, conn: psycopg.Connection, rtype: str, rid: int) -> dict[str, Any] | None:
        """The record document, or None."""
        row = conn.execute(
            "SELECT data FROM record WHERE type = %s AND id = %s", (rtype, rid)
        ).fetchone()
        return row["data"] if row else None  # type: ignore[index,call-overload]

    def get_by_external_id(
        self, conn: psycopg.Connection, rtype: str, external_id: str
    ) -> tuple[int, dict] | None:
        """``(id, document)`` of the record with this external id, or None."""
        row = conn.execute(
            "SELECT id, data FROM record WHERE type = %s AND external_id = %s", (rtype, external_id)
        ).fetchone()
        return (row["id"], row["data"]) if row else None  # type: ignore[index,call-overload]

    def next_id(self, conn: psycopg.Connection) -> int:
        """A new record id (above every generated id)."""
        return int(conn.execute("SELECT nextval('record_id_seq') AS id").fetchone()["id"])  # type: ignore[index,call-overload]

    def put(  # noqa: PLR0917 - the record's natural key and body
        self,
        conn: psycopg.Connection,
        rtype: str,
        rid: int,
        data: dict[str, Any],
        external_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Insert or replace a record (``updated_at`` = ``at`` or now)."""
        conn.execute(
            "INSERT INTO record (type, id, external_id, data, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, coalesce(%s, now()), coalesce(%s, now())) "
            "ON CONFLICT (type, id) DO UPDATE SET data = EXCLUDED.data, "
            "external_id = coalesce(EXCLUDED.external_id, record.external_id), "
            "updated_at = EXCLUDED.updated_at",
            (rtype, rid, external_id, Jsonb(data), at, at),
        )

    def log_write(
        self,
        conn: psycopg.Connection,
        *,
        method: str,
        path: str,
        status: int,
        record_type: str | None = None,
        record_id: int | None = None,
        external_id: str | None = None,
        body: Any = None,
        idempotency_key: str | None = None,
    ) -> None:
        """Record a client's write for the admin API's "what was posted"."""
        conn.execute(
            "INSERT INTO write_log (method, path, record_type, record_id, external_id, status, "
            "body, idempotency_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                method,
                path,
                record_type,
                record_id,
                external_id,
                status,
                Jsonb(body) if body is not None else None,
                idempotency_key,
            ),
        )

    def writes(self, record_type: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """The most recent writes, oldest first."""
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT * FROM (SELECT seq, at, method, path, record_type, record_id, external_id, "
                "status, body, idempotency_key FROM write_log "
                "WHERE %(t)s::text IS NULL OR record_type = %(t)s ORDER BY seq DESC LIMIT %(n)s) w "
                "ORDER BY seq",
                {"t": record_type, "n": limit},
            ).fetchall()
        return [dict(r) for r in rows]

    def kv_get(self, conn: psycopg.Connection, key: str) -> Any:
        """A state value, or None."""
        row = conn.execute("SELECT value FROM kv WHERE key = %s", (key,)).fetchone()
        return row["value"] if row else None  # type: ignore[index,call-overload]

    def kv_put(self, conn: psycopg.Connection, key: str, value: Any) -> None:
        """Set a state value."""
        conn.execute(
            "INSERT INTO kv (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (key, Jsonb(value)),
        )
