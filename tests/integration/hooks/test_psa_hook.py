"""KantataHook against the sandbox's Kantata OX API v1: extraction, windows, faults, writes."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from ps_sync.hooks.http import AuthenticationError, NotFoundError, RecordRejectedError
from ps_sync.hooks.psa import KantataHook

WINDOW = (datetime(2026, 10, 10, tzinfo=UTC), datetime(2026, 10, 20, tzinfo=UTC))


@pytest.fixture
def psa(connections, policy):
    hook = KantataHook(retry_policy=policy)
    yield hook
    hook.close()


def approved_time_entries(vendor_db) -> dict[str, dict]:
    rows = (
        vendor_db("psa")
        .execute(
            "SELECT data FROM record WHERE type = 'time_entries' "
            "AND (data->>'approved')::boolean ORDER BY id"
        )
        .fetchall()
    )
    return {r["data"]["id"]: r["data"] for r in rows}


def test_full_extraction_of_approved_time_entries_is_every_one_the_sandbox_holds(psa, vendor_db):
    truth = approved_time_entries(vendor_db)
    records = list(psa.iter_records("time_entries", approved=True))
    assert [r["id"] for r in records] == list(truth)  # in order, none missing, none repeated
    # Records are the documents exactly as served, for the stager's raw payload.
    assert {r["id"]: r for r in records} == truth
    # Kantata hides time on archived projects unless asked: the default asks.
    hidden = list(psa.iter_records("time_entries", approved=True, from_archived_workspaces=False))
    assert 0 < len(hidden) < len(truth)


def test_incremental_window_returns_what_changed_in_it(psa, vendor_db):
    after, before = WINDOW
    truth = {
        r["id"]
        for r in vendor_db("psa")
        .execute(
            "SELECT data->>'id' AS id FROM record WHERE type = 'time_entries' "
            "AND updated_at > %s AND updated_at < %s",
            (after, before),
        )
        .fetchall()
    }
    records = list(
        psa.iter_records("time_entries", updated_after=after, updated_before=before, per_page=50)
    )
    ids = [r["id"] for r in records]
    assert truth and len(ids) == len(set(ids)) and set(ids) == truth
    assert all(after < datetime.fromisoformat(r["updated_at"]) < before for r in records)


def test_records_inserted_while_paging_do_not_repeat_or_hide_others(
    psa, vendor_db, add_fault, fault
):
    truth = approved_time_entries(vendor_db)
    rule = add_fault(
        "psa",
        kind="insert_while_paging",
        route="*/time_entries*",
        method="GET",
        skip=1,
        times=1,
        count=3,
    )
    pages = list(psa.iter_pages("time_entries", approved=True))
    ids = [r["id"] for p in pages for r in p.records]
    assert fault("psa", rule)["injected"] == 1
    # Page 3 started three records early: the pager saw those three again and dropped them.
    assert sum(p.duplicates for p in pages) == 3
    assert pages[2].duplicates == 3
    assert len(ids) == len(set(ids)) and set(ids) == set(truth)


def test_429_retry_after_is_honoured_then_the_extraction_completes(
    psa, vendor_db, add_fault, fault, sleeper
):
    rule = add_fault(
        "psa", kind="status", status=429, retry_after="1", route="*/time_entries*", skip=2, times=1
    )
    started = time.perf_counter()
    records = list(psa.iter_records("time_entries", approved=True))
    elapsed = time.perf_counter() - started
    assert fault("psa", rule)["injected"] == 1
    assert sleeper.waits == [1.0]
    assert 1.0 <= elapsed < 5.0
    assert len(records) == len(approved_time_entries(vendor_db))


def test_a_503_burst_is_retried_with_backoff(psa, vendor_db, add_fault, fault, sleeper):
    rule = add_fault("psa", kind="status", status=503, route="*/time_entries*", skip=1, times=3)
    records = list(psa.iter_records("time_entries", approved=True))
    assert fault("psa", rule)["injected"] == 3
    assert len(sleeper.waits) == 3 and all(0 < w <= 0.5 for w in sleeper.waits)
    assert len(records) == len(approved_time_entries(vendor_db))


@pytest.mark.parametrize("kind", ["reset", "truncate", "malformed"])
def test_a_broken_page_is_fetched_again(psa, vendor_db, add_fault, fault, *, sleeper, kind):
    rule = add_fault("psa", kind=kind, route="*/time_entries*", skip=4, times=1)
    records = [r["id"] for r in psa.iter_records("time_entries", approved=True)]
    assert fault("psa", rule)["injected"] == 1 and len(sleeper.waits) == 1
    assert records == list(approved_time_entries(vendor_db))


def test_an_expired_token_fails_fast_after_one_request(psa, add_fault, fault, sleeper):
    rule = add_fault("psa", kind="token_expired")
    with pytest.raises(AuthenticationError) as info:
        list(psa.iter_records("time_entries", approved=True))
    assert str(info.value) == (
        "Kantata rejected connection 'psa_default' (authentication): check the connection's "
        "password (the Kantata OAuth bearer token) and that the token is still valid"
    )
    assert fault("psa", rule)["matched"] == 1 and sleeper.waits == []


def test_a_wrong_token_fails_fast_and_never_appears_in_the_error(
    connections, policy, add_fault, fault, sleeper
):
    connections(psa={"password": "not-the-sandbox-token-123"})
    counter = add_fault("psa", kind="latency", latency_ms=0)
    hook = KantataHook(retry_policy=policy)
    with pytest.raises(AuthenticationError) as info:
        hook.get("users", "me")
    assert "not-the-sandbox-token-123" not in str(info.value)
    assert info.value.status == 401
    assert fault("psa", counter)["matched"] == 1 and sleeper.waits == []
    assert hook.test_connection()[0] is False


def test_get_update_and_a_refused_update(psa, vendor_db):
    archived = (
        vendor_db("psa")
        .execute(
            "SELECT t.data->>'id' AS id FROM record t JOIN record w ON w.type = 'workspaces' "
            "AND w.id::text = t.data->>'workspace_id' WHERE t.type = 'time_entries' "
            "AND (w.data->>'archived')::boolean ORDER BY t.id LIMIT 1"
        )
        .fetchone()["id"]
    )
    assert psa.get("time_entries", archived)["id"] == archived
    with pytest.raises(NotFoundError):
        psa.get("time_entries", archived, from_archived_workspaces=False)
    updated = psa.update("time_entries", archived, {"notes": "Reviewed by ps-sync"})
    assert (updated["id"], updated["notes"]) == (archived, "Reviewed by ps-sync")
    with pytest.raises(RecordRejectedError) as info:
        psa.update("time_entries", archived, {"time_in_minutes": 0})
    assert (info.value.code, info.value.error_path, info.value.status) == (
        "validation",
        "time_in_minutes",
        422,
    )
    assert psa.test_connection()[0] is True
