"""NetSuiteHook against the sandbox's NetSuite REST service: auth, SuiteQL, upserts, faults."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest

from ps_sync.hooks.erp import NetSuiteHook, UpsertItem
from ps_sync.hooks.http import AuthenticationError, FatalAPIError, RecordRejectedError

EMPLOYEE, PROJECT = "5001", "20001"  # seeded: an employee and a project (job) of subsidiary 2
MISSING_CUSTOMER = "999999999"


@pytest.fixture
def erp(connections, policy):
    hook = NetSuiteHook(retry_policy=policy)
    yield hook
    hook.close()


def time_bill(n: int, **fields: Any) -> dict[str, Any]:
    """A time bill from Kantata time entry ``n``, in the open October 2026 period."""
    return {
        "tranDate": "2026-10-15",
        "employee": {"id": EMPLOYEE},
        "customer": {"id": PROJECT},
        "hours": "1:30",
        "isBillable": True,
        "rate": 175.0,
        "memo": f"Kantata time entry {n}",
        **fields,
    }


def count_by_external_id(vendor_db, record_type: str, prefix: str) -> tuple[int, int]:
    """(records, distinct internal ids) of ``record_type`` whose external id starts ``prefix``."""
    row = (
        vendor_db("erp")
        .execute(
            "SELECT count(*) AS n, count(DISTINCT id) AS ids FROM record "
            "WHERE type = %s AND external_id LIKE %s",
            (record_type, prefix + "%"),
        )
        .fetchone()
    )
    return row["n"], row["ids"]


@pytest.fixture
def cap_rule_id(sandbox) -> str:
    """The ERP's default concurrency rule: its ``matched`` counts every request since reset."""
    rules = sandbox.admin("GET", "/faults/erp")
    return next(r["id"] for r in rules if r["kind"] == "concurrency_cap")


def test_a_wrong_secret_fails_fast_with_an_actionable_message(
    connections, policy, fault, cap_rule_id, sleeper
):
    connections(erp={"password": "not-the-consumer-secret"})
    hook = NetSuiteHook(retry_policy=policy)
    with pytest.raises(AuthenticationError) as info:
        hook.upsert("timeBill", "PS-TB-AUTH", time_bill(1))
    assert str(info.value) == (
        "NetSuite rejected connection 'erp_default' (INVALID_LOGIN): check the consumer "
        "key/secret, token id/secret and account_id (realm)"
    )
    assert "not-the-consumer-secret" not in str(info.value)
    assert fault("erp", cap_rule_id)["matched"] == 1 and sleeper.waits == []
    # A batch stops at the first refusal: at most the requests already in flight are sent.
    items = [("timeBill", f"PS-TB-AUTH-{n}", time_bill(n)) for n in range(50)]
    with pytest.raises(AuthenticationError):
        hook.upsert_many(items)
    assert fault("erp", cap_rule_id)["matched"] <= 1 + hook.max_concurrency
    assert sleeper.waits == []


def test_suiteql_pages_through_every_row(erp, vendor_db):
    truth = [
        str(r["id"])
        for r in vendor_db("erp")
        .execute("SELECT id FROM record WHERE type = 'employee' ORDER BY id")
        .fetchall()
    ]
    pages = list(erp.suiteql_pages("SELECT id, entityid FROM employee ORDER BY id", page_size=10))
    assert len(pages) == math.ceil(len(truth) / 10) > 1
    rows = [r for p in pages for r in p.records]
    assert [r["id"] for r in rows] == truth
    assert all("links" not in r for r in rows)
    assert pages[0].total == len(truth)
    bound = list(erp.suiteql("SELECT id FROM employee WHERE id > ? ORDER BY id", [truth[-3]]))
    assert [r["id"] for r in bound] == truth[-2:]


def test_a_bad_suiteql_query_fails_fast_with_netsuites_reason(erp, sleeper):
    with pytest.raises(FatalAPIError, match="Field 'nosuchfield' not found") as info:
        list(erp.suiteql("SELECT nosuchfield FROM customer"))
    assert info.value.status == 400 and sleeper.waits == []


def test_suiteql_dates_come_back_us_style_unless_formatted(erp):
    row = next(
        erp.suiteql(
            "SELECT id, lastmodifieddate, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD') AS modified "
            "FROM customer ORDER BY id"
        )
    )
    month, day, year = (int(p) for p in row["lastmodifieddate"].split("/"))
    assert row["modified"] == f"{year:04d}-{month:02d}-{day:02d}"


def test_suiteql_with_a_unique_key_drops_rows_repeated_by_inserts(erp, vendor_db, add_fault, fault):
    truth = [
        str(r["id"])
        for r in vendor_db("erp")
        .execute("SELECT id FROM record WHERE type = 'employee' ORDER BY id")
        .fetchall()
    ]
    rule = add_fault(
        "erp",
        kind="insert_while_paging",
        route="*/suiteql",
        method="POST",
        skip=1,
        times=1,
        count=2,
    )
    pages = list(
        erp.suiteql_pages("SELECT id FROM employee ORDER BY id", page_size=10, unique_key="id")
    )
    ids = [r["id"] for p in pages for r in p.records]
    assert fault("erp", rule)["injected"] == 1
    assert sum(p.duplicates for p in pages) == 2
    assert ids == truth


def test_upserting_the_same_external_id_twice_leaves_one_record(erp, vendor_db, switches):
    first = erp.upsert("timeBill", "PS-TB-TWICE", time_bill(1))
    second = erp.upsert("timeBill", "PS-TB-TWICE", time_bill(1, memo="corrected"))
    assert first == second
    assert count_by_external_id(vendor_db, "timeBill", "PS-TB-TWICE") == (1, 1)
    record = erp.get_by_external_id("timeBill", "PS-TB-TWICE")
    assert record is not None and (record["id"], record["memo"]) == (first, "corrected")
    # Without a Location header the hook asks NetSuite for the id.
    switches("erp", upsert_location_header=False)
    assert erp.upsert("timeBill", "PS-TB-TWICE", time_bill(1)) == first
    assert erp.get_by_external_id("timeBill", "PS-TB-NEVER") is None


def test_upsert_many_runs_at_the_accounts_concurrency_limit(
    connections, policy, vendor_db, switches, *, fault, cap_rule_id, record_property
):
    limit, latency = 5, 0.05
    switches("erp", latency_ms=int(latency * 1000), concurrency_limit=limit)
    connections(erp_extra={"max_concurrency": limit})
    hook = NetSuiteHook(retry_policy=policy)
    items = [UpsertItem("timeBill", f"PS-TB-RATE-{n}", time_bill(n)) for n in range(60)]
    hook.upsert("timeBill", "PS-TB-WARMUP", time_bill(0))  # the session, outside the clock
    started = time.perf_counter()
    results = hook.upsert_many(items)
    elapsed = time.perf_counter() - started
    hook.close()
    cap = limit / latency
    ratio = len(items) / elapsed / cap
    record_property("upsert_rate_ratio", round(ratio, 3))
    print(f"upsert_many: {len(items) / elapsed:.1f} records/s, cap {cap:.0f}/s, ratio {ratio:.2f}")
    assert [r.external_id for r in results] == [i.external_id for i in items]
    assert all(r.ok for r in results)
    assert count_by_external_id(vendor_db, "timeBill", "PS-TB-RATE-") == (60, 60)
    assert len({r.internal_id for r in results}) == 60
    assert fault("erp", cap_rule_id)["injected"] == 0  # never over the limit
    assert ratio >= 0.6


def test_more_workers_than_the_limit_are_throttled_by_400_concurrency_errors_and_lose_nothing(
    connections, policy, vendor_db, switches, *, fault, cap_rule_id
):
    switches("erp", latency_ms=20, concurrency_limit=3, concurrency_status=400)
    connections(erp_extra={"max_concurrency": 8})
    hook = NetSuiteHook(retry_policy=policy)
    items = [("timeBill", f"PS-TB-OVER-{n}", time_bill(n)) for n in range(40)]
    results = hook.upsert_many(items)
    hook.close()
    assert fault("erp", cap_rule_id)["injected"] > 0  # CONCURRENCY_LIMIT_EXCEEDED happened
    assert all(r.ok for r in results)
    assert count_by_external_id(vendor_db, "timeBill", "PS-TB-OVER-") == (40, 40)


def test_a_refused_record_is_reported_and_the_others_are_posted(erp, vendor_db):
    items = [("timeBill", f"PS-TB-MIX-{n}", time_bill(n)) for n in range(12)]
    items[5] = ("timeBill", "PS-TB-MIX-5", time_bill(5, customer={"id": MISSING_CUSTOMER}))
    results = erp.upsert_many(items, max_workers=4)
    refused = [r for r in results if not r.ok]
    assert [r.external_id for r in refused] == ["PS-TB-MIX-5"]
    error = refused[0].error
    assert isinstance(error, RecordRejectedError)
    assert (error.status, error.code, error.error_path) == (400, "INVALID_CONTENT", "customer")
    assert MISSING_CUSTOMER in error.detail
    assert str(error) == "NetSuite refused timeBill eid:PS-TB-MIX-5 (INVALID_CONTENT at customer)"
    assert count_by_external_id(vendor_db, "timeBill", "PS-TB-MIX-") == (11, 11)


def test_an_upsert_whose_answer_is_lost_after_commit_is_sent_again_once(
    erp, vendor_db, sandbox, add_fault, *, fault, sleeper
):
    rule = add_fault(
        "erp", kind="drop_after_commit", method="PUT", route="*/timeBill/eid:*", times=1
    )
    internal_id = erp.upsert("timeBill", "PS-TB-DROP", time_bill(7))
    assert fault("erp", rule)["injected"] == 1 and len(sleeper.waits) == 1
    assert count_by_external_id(vendor_db, "timeBill", "PS-TB-DROP") == (1, 1)
    puts = [w for w in sandbox.admin("GET", "/posted/erp") if w["external_id"] == "PS-TB-DROP"]
    assert [w["method"] for w in puts] == ["PUT", "PUT"]
    assert {str(w["record_id"]) for w in puts} == {internal_id}


def test_delete_by_internal_id(erp):
    internal_id = erp.upsert("timeBill", "PS-TB-DELETE", time_bill(3))
    erp.delete("timeBill", internal_id)
    assert erp.get_by_external_id("timeBill", "PS-TB-DELETE") is None
    erp.delete("timeBill", internal_id, missing_ok=True)
    assert erp.test_connection() == (True, "Connected to NetSuite")
