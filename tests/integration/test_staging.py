"""Staging: COPY into staging.record, one row per version; batches list what they saw."""

from __future__ import annotations

import psycopg
import pytest

from ps_sync.batches import close_batch, open_batch
from ps_sync.staging import stage_records


def entries(n: int, *, start: int = 1, version: str = "2026-10-01T09:00:00+00:00") -> list[dict]:
    return [
        {"id": str(i), "time_in_minutes": 60 + i % 7, "notes": f"entry {i}", "updated_at": version}
        for i in range(start, start + n)
    ]


@pytest.fixture
def conn(make_database):
    from ps_sync import db

    url = make_database()
    db.migrate(url)
    with psycopg.connect(url) as connection:
        yield connection


def batch(conn: psycopg.Connection) -> int:
    return open_batch(
        conn, workflow="test", step="stage", source_system="psa", entity="time_entries"
    )


def staged(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM staging.record").fetchone()[0]


def seen_by(conn: psycopg.Connection, batch_id: int) -> int:
    return conn.execute(
        "SELECT count(*) FROM staging.batch_version WHERE batch_id = %s", (batch_id,)
    ).fetchone()[0]


def test_first_pass_stages_every_record_with_hash_version_and_batch(conn):
    b = batch(conn)
    result = stage_records(
        conn, iter(entries(500)), batch_id=b, source_system="psa", entity="time_entries"
    )
    assert (result.extracted, result.distinct_versions, result.new_versions) == (500, 500, 500)
    row = conn.execute(
        "SELECT source_id, source_version, source_updated_at, payload->>'notes', "
        "length(payload_hash), batch_id "
        "FROM staging.record WHERE source_id = '7'"
    ).fetchone()
    assert row[0] == "7" and row[1] == "2026-10-01T09:00:00+00:00"
    assert row[2].isoformat() == "2026-10-01T09:00:00+00:00"
    assert row[3] == "entry 7" and row[4] == 64 and row[5] == b
    assert seen_by(conn, b) == 500


def test_restaging_the_same_versions_adds_nothing_but_the_batch_still_lists_them(conn):
    stage_records(
        conn, entries(300), batch_id=batch(conn), source_system="psa", entity="time_entries"
    )
    again = batch(conn)
    result = stage_records(
        conn, entries(300), batch_id=again, source_system="psa", entity="time_entries"
    )
    assert result.new_versions == 0 and result.already_staged == 300
    assert staged(conn) == 300
    assert seen_by(conn, again) == 300


def test_a_changed_record_is_a_new_version_and_the_old_one_is_kept(conn):
    stage_records(
        conn, entries(10), batch_id=batch(conn), source_system="psa", entity="time_entries"
    )
    changed = entries(10)
    changed[3] = {**changed[3], "time_in_minutes": 90, "updated_at": "2026-10-02T09:00:00+00:00"}
    result = stage_records(
        conn, changed, batch_id=batch(conn), source_system="psa", entity="time_entries"
    )
    assert result.new_versions == 1
    versions = conn.execute(
        "SELECT source_version FROM staging.record WHERE source_id = '4' ORDER BY staging_id"
    ).fetchall()
    assert [v[0] for v in versions] == ["2026-10-01T09:00:00+00:00", "2026-10-02T09:00:00+00:00"]


def test_records_served_twice_in_one_extraction_are_staged_once(conn):
    records = entries(50) + entries(5, start=46)  # a page shifted while paging repeats 5
    b = batch(conn)
    result = stage_records(conn, records, batch_id=b, source_system="psa", entity="time_entries")
    assert (result.extracted, result.distinct_versions, result.new_versions) == (55, 50, 50)
    assert seen_by(conn, b) == 50


def test_same_ids_in_other_systems_or_entities_do_not_collide(conn):
    stage_records(
        conn, entries(5), batch_id=batch(conn), source_system="psa", entity="time_entries"
    )
    stage_records(conn, entries(5), batch_id=batch(conn), source_system="psa", entity="expenses")
    stage_records(
        conn, entries(5), batch_id=batch(conn), source_system="erp", entity="time_entries"
    )
    assert staged(conn) == 15


def test_hostile_text_and_nul_characters_are_staged_not_fatal(conn):
    records = [
        {"id": "1", "notes": "'; DROP TABLE staging.record; --", "updated_at": "v1"},
        {"id": "2", "notes": "bad \x00 byte", "updated_at": "v1"},
        {"id": "3", "notes": "literal \\u0000 text", "updated_at": "v1"},
        {"id": "4", "notes": "日本語 العربية 🚀", "updated_at": "not a date"},
        {"id": "5", "notes": "impossible stamp", "updated_at": "2026-10-32T09:00:00+00:00"},
    ]
    result = stage_records(
        conn, records, batch_id=batch(conn), source_system="psa", entity="time_entries"
    )
    assert result.new_versions == 5
    notes = dict(conn.execute("SELECT source_id, payload->>'notes' FROM staging.record").fetchall())
    assert notes["1"] == "'; DROP TABLE staging.record; --"
    assert notes["2"] == "bad \\u0000 byte"  # the NUL kept as visible text for validation
    assert notes["3"] == "literal \\u0000 text"
    assert notes["4"] == "日本語 العربية 🚀"
    assert (
        conn.execute(
            "SELECT source_updated_at FROM staging.record WHERE source_id = '4'"
        ).fetchone()[0]
        is None
    )


def test_a_failure_mid_stream_stages_nothing_of_that_pass(conn):
    def broken():
        yield from entries(20)
        raise ConnectionError("connection reset while paging")

    b = batch(conn)
    with pytest.raises(ConnectionError):
        stage_records(conn, broken(), batch_id=b, source_system="psa", entity="time_entries")
    assert staged(conn) == 0 and seen_by(conn, b) == 0


def test_batches_record_their_task_and_totals(conn):
    b = open_batch(
        conn,
        workflow="approved_time_expense",
        step="stage",
        source_system="psa",
        entity="time_entries",
        task={"dag_id": "d", "run_id": "r", "task_id": "t", "try_number": 2},
    )
    close_batch(conn, b, status="succeeded", control_totals={"extracted": 3, "minutes": 180})
    row = conn.execute(
        "SELECT status, control_totals, dag_id, run_id, task_id, try_number, "
        "finished_at IS NOT NULL "
        "FROM ops.batch WHERE batch_id = %s",
        (b,),
    ).fetchone()
    assert row == ("succeeded", {"extracted": 3, "minutes": 180}, "d", "r", "t", 2, True)
