"""Stage: stream source records into ``staging.record`` with COPY (DESIGN §2.1).

Each record is stored once per distinct version: its canonical JSON (sorted keys) is hashed,
and ``(source_system, entity, source_id, payload_hash)`` is unique, so re-staging a version is a
no-op. Every version a batch extracted is in the view ``staging.batch_version``: new versions
carry the batch id in ``staging.record``, versions staged before are listed in
``staging.batch_record``. Validation and control totals read that view.

Records stream from any iterator (a hook's pages) through COPY into a temporary table and are
then merged set-wise; nothing holds the extraction in memory.

PostgreSQL's ``jsonb`` cannot hold a NUL character (``\u0000``), and one hostile record must not
fail a whole batch: such escapes are stored as the literal text ``\u0000`` (a backslash and
five characters) so validation can see and hold the record. The hash is of the record as
received, so versions stay distinct.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

VersionOf = Callable[[dict[str, Any]], str]
# A JSON NUL escape: "\u0000" preceded by an even number of backslashes (an odd run would be
# an escaped backslash followed by the text "u0000").
_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")

_TEMP_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS _stage_in (
    source_id         text,
    source_version    text,
    source_updated_at timestamptz,
    payload           jsonb,
    payload_hash      text
) ON COMMIT DROP
"""

_MERGE = """
WITH inserted AS (
    INSERT INTO staging.record (source_system, entity, source_id, source_version,
                                source_updated_at, payload, payload_hash, batch_id)
    SELECT %(system)s, %(entity)s, source_id, source_version,
           source_updated_at, payload, payload_hash, %(batch)s
    FROM _stage_in
    ON CONFLICT (source_system, entity, source_id, payload_hash) DO NOTHING
    RETURNING 1
), reseen AS (
    -- Versions staged by an earlier batch (the statement's snapshot does not see the rows
    -- inserted above, so these are exactly the pre-existing ones).
    INSERT INTO staging.batch_record (batch_id, staging_id)
    SELECT DISTINCT %(batch)s, r.staging_id
    FROM _stage_in i
    JOIN staging.record r ON r.source_system = %(system)s AND r.entity = %(entity)s
                         AND r.source_id = i.source_id AND r.payload_hash = i.payload_hash
    WHERE r.batch_id <> %(batch)s
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(DISTINCT (source_id, payload_hash)) FROM _stage_in) AS distinct_versions,
       (SELECT count(*) FROM inserted) AS new_versions,
       (SELECT count(*) FROM reseen) AS reseen
"""


@dataclass(frozen=True)
class StageResult:
    """What one staging pass did (the numbers go to XCom and ``ops.batch``)."""

    batch_id: int
    extracted: int
    distinct_versions: int
    new_versions: int

    @property
    def already_staged(self) -> int:
        """Versions that were staged by an earlier batch (a re-run or an overlap)."""
        return self.distinct_versions - self.new_versions


def _timestamp(value: str) -> datetime | None:
    """The version as a timestamp when it is one (malformed stamps are kept as text only)."""
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else None


def canonical_json(record: dict[str, Any]) -> str:
    """The record as canonical JSON: sorted keys, no insignificant white space."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def updated_at_version(record: dict[str, Any]) -> str:
    """Default version of a record: its vendor ``updated_at`` stamp."""
    return str(record.get("updated_at") or record.get("lastModifiedDate") or "")


def stage_records(
    conn: psycopg.Connection,
    records: Iterable[dict[str, Any]],
    *,
    batch_id: int,
    source_system: str,
    entity: str,
    id_of: Callable[[dict[str, Any]], str] = lambda r: str(r["id"]),
    version_of: VersionOf = updated_at_version,
) -> StageResult:
    """Stage ``records`` for ``batch_id`` in one transaction.

    Args:
        conn: a psycopg connection (not in autocommit; this function commits).
        records: the source records as the vendor served them, in any number.
        batch_id: the ``ops.batch`` this pass belongs to.
        source_system: ``psa``, ``erp``, ``crm`` or ``hcm``.
        entity: the source collection (``time_entries``, ``expenses``, ...).
        id_of: the record's source id.
        version_of: the record's version stamp (default ``updated_at``).

    Returns:
        Counts: records extracted, distinct versions among them, versions new to staging.
    """
    extracted = 0
    with conn.transaction():
        conn.execute(_TEMP_TABLE)
        with conn.cursor().copy(
            "COPY _stage_in (source_id, source_version, source_updated_at, payload, payload_hash) "
            "FROM STDIN"
        ) as copy:
            for record in records:
                text = canonical_json(record)
                digest = hashlib.sha256(text.encode()).hexdigest()
                if "u0000" in text:
                    text = _NUL_ESCAPE.sub(r"\1\\\\u0000", text)
                version = version_of(record)
                copy.write_row((id_of(record), version, _timestamp(version), text, digest))
                extracted += 1
        row = conn.execute(
            _MERGE, {"system": source_system, "entity": entity, "batch": batch_id}
        ).fetchone()
    assert row is not None
    return StageResult(
        batch_id=batch_id,
        extracted=extracted,
        distinct_versions=int(row[0]),
        new_versions=int(row[1]),
    )
