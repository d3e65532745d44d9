"""Contract tests of the sandbox's Kantata OX API v1 (``sandbox/psa.py``), over real HTTP.

One PSA-only sandbox process serves the module, loaded with known records: the storage
contract's shapes in ``tests/fixtures/psa/records.json`` (time entry 5001 and user 42 are the
reference's §1.4 example verbatim) plus 240 generated time entries with ids 20000, 20010, ...,
22390 (the gaps leave room for ``insert_while_paging`` below each page). Every test starts from
that seeded state (admin reset: records, faults and switches). Expected answers are computed
from the same records. Reference: ``shared/reference/api-wire-formats.md`` §1 and §5.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.store import RecordRow
from sandbox.testing import SandboxProcess, loaded_sandbox

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "psa"
NOT_FOUND = {"errors": [{"type": "system", "message": "Not found"}]}
UNAUTHORIZED = {
    "errors": [
        {"type": "authentication", "message": "The access token is missing, invalid or expired."}
    ]
}
TOO_MANY_REQUESTS = {"errors": [{"type": "system", "message": "Too Many Requests"}]}
OFFSET_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d")
Z_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
# Stamps for the record columns of documents without created_at/updated_at (roles, user 42).
UNSTAMPED = datetime(2024, 1, 1, tzinfo=UTC)


def generated_time_entries() -> list[dict[str, Any]]:
    """240 time entries over May 2024 in workspaces 301/302 and, every 20th, archived 303."""
    start = datetime.fromisoformat("2024-05-01T08:00:00-07:00")
    entries = []
    for i in range(240):
        workspace = "303" if i % 20 == 19 else ("301" if i % 2 == 0 else "302")
        created = start + timedelta(hours=i)
        euro = workspace == "302"
        entries.append(
            {
                "id": str(20000 + 10 * i),
                "date_performed": (date(2024, 5, 1) + timedelta(days=i % 30)).isoformat(),
                "time_in_minutes": 30 + (i % 8) * 15,
                "billable": i % 5 != 0,
                "notes": f"Generated entry {i}",
                "rate_in_cents": 17500,
                "cost_rate_in_cents": 9000,
                "currency": "EUR" if euro else "USD",
                "currency_symbol": "€" if euro else "$",
                "currency_base_unit": 100,
                "workspace_id": workspace,
                "story_id": "7002" if euro else "7001",
                "user_id": ("10", "11", "12")[i % 3],
                "role_id": ("1", "2")[i % 2],
                "approved": euro or i % 4 == 0,
                "is_invoiced": False,
                "invoice_id": None,
                "active_submission_id": None,
                "recent_submission_id": None,
                "taxable": False,
                "user_can_edit": True,
                "location": None,
                "external_reference_ids": [],
                "created_at": created.isoformat(),
                "updated_at": (created + timedelta(minutes=30)).isoformat(),
            }
        )
    return entries


def load_records() -> dict[str, list[dict[str, Any]]]:
    """The module's seeded records by type."""
    records = json.loads((FIXTURES / "records.json").read_text())
    records["time_entries"] += generated_time_entries()
    return records


RECORDS = load_records()
ARCHIVED_WORKSPACES = {w["id"] for w in RECORDS["workspaces"] if w["archived"]}
BY_ID = {(t, d["id"]): d for t, docs in RECORDS.items() for d in docs}


def record_rows() -> Iterator[RecordRow]:
    """The records as :meth:`VendorStore.copy_records` loads them."""

    def stamp(doc: dict[str, Any], key: str) -> datetime:
        return datetime.fromisoformat(doc[key]) if key in doc else UNSTAMPED

    for rtype, docs in RECORDS.items():
        for doc in docs:
            yield RecordRow(
                rtype,
                int(doc["id"]),
                doc,
                created_at=stamp(doc, "created_at"),
                updated_at=stamp(doc, "updated_at"),
            )


def visible_entries() -> list[dict[str, Any]]:
    """Time entries outside archived workspaces (what lists show by default)."""
    return [t for t in RECORDS["time_entries"] if t["workspace_id"] not in ARCHIVED_WORKSPACES]


def ids_of(docs: list[dict[str, Any]]) -> list[str]:
    """Ids in the default order (id ascending)."""
    return [d["id"] for d in sorted(docs, key=lambda d: int(d["id"]))]


def at(stamp: str) -> datetime:
    """An ISO 8601 string as an aware datetime."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(server_url: str) -> Iterator[SandboxProcess]:
    """A PSA-only sandbox process holding the known records."""
    with loaded_sandbox(server_url, "psa", record_rows()) as proc:
        yield proc


@pytest.fixture(autouse=True)
def seeded(sandbox: SandboxProcess) -> SandboxProcess:
    """Back to the seeded records, no faults, default switches."""
    sandbox.reset()
    return sandbox


@pytest.fixture(scope="module")
def psa(sandbox: SandboxProcess) -> dict[str, Any]:
    """The PSA's base URL and credentials, as the admin API publishes them."""
    return sandbox.vendors()["psa"]


@pytest.fixture(scope="module")
def api(psa: dict[str, Any]) -> Iterator[httpx.Client]:
    """An authenticated client of ``/api/v1``."""
    headers = {"Authorization": f"Bearer {psa['credentials']['token']}"}
    with httpx.Client(base_url=f"{psa['base_url']}/api/v1", headers=headers, timeout=30) as client:
        yield client


def get_ok(api: httpx.Client, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """GET a 200 JSON body."""
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def every_id(api: httpx.Client, path: str, params: dict[str, Any] | None = None) -> list[str]:
    """The ids of every page, in order (stopping at ``meta.page_count``)."""
    found: list[str] = []
    page = 1
    while True:
        body = get_ok(api, path, {**(params or {}), "per_page": 200, "page": page})
        found += [r["id"] for r in body["results"]]
        if page >= body["meta"]["page_count"]:
            return found
        page += 1


def set_switches(sandbox: SandboxProcess, **values: Any) -> None:
    """Change PSA switches through the admin API."""
    sandbox.admin("PATCH", "/switches/psa", json=values)


def add_fault(sandbox: SandboxProcess, **rule: Any) -> None:
    """Add a PSA fault rule through the admin API."""
    sandbox.admin("POST", "/faults/psa", json=rule)


def posted(sandbox: SandboxProcess) -> list[tuple[Any, ...]]:
    """What clients wrote: (method, path, type, id, status, body)."""
    return [
        (w["method"], w["path"], w["record_type"], w["record_id"], w["status"], w["body"])
        for w in sandbox.admin("GET", "/posted/psa")
    ]


def stored_count(sandbox: SandboxProcess, rtype: str) -> int:
    """Records of a type in the PSA store (admin counts)."""
    return sandbox.admin("GET", "/counts")["psa"].get(rtype, 0)


# --- envelope ------------------------------------------------------------------------------------


def test_reference_example_request_answers_the_reference_body(api: httpx.Client) -> None:
    expected = json.loads((FIXTURES / "reference_time_entries_response.json").read_text())
    params = {
        "updated_after": "2024-05-01T00:00:00Z",
        "include": "user",
        "per_page": 200,
        "page": 1,
        "only": "5001",
    }
    assert get_ok(api, "/time_entries.json", params) == expected


def test_envelope_has_kantata_keys_string_ids_and_ordered_results(api: httpx.Client) -> None:
    body = get_ok(api, "/workspaces.json")
    expected = ids_of([w for w in RECORDS["workspaces"] if not w["archived"]])
    assert list(body) == ["count", "meta", "results", "workspaces"]
    assert body["count"] == len(expected)
    assert body["meta"] == {
        "count": len(expected),
        "page_count": 1,
        "page_number": 1,
        "page_size": 20,
    }
    assert body["results"] == [{"key": "workspaces", "id": i} for i in expected]
    assert list(body["workspaces"]) == expected
    for rid, doc in body["workspaces"].items():
        assert doc == BY_ID["workspaces", rid]
        assert isinstance(doc["id"], str)
        assert doc["id"] == rid


def test_paths_work_with_and_without_json_suffix(api: httpx.Client) -> None:
    assert get_ok(api, "/time_entries.json") == get_ok(api, "/time_entries")
    assert get_ok(api, "/time_entries/5001.json") == get_ok(api, "/time_entries/5001")
    assert get_ok(api, "/users/me.json") == get_ok(api, "/users/me")


# --- paging --------------------------------------------------------------------------------------


def test_default_page_is_20_records(api: httpx.Client) -> None:
    expected = ids_of(visible_entries())
    body = get_ok(api, "/time_entries.json")
    assert body["meta"] == {
        "count": len(expected),
        "page_count": math.ceil(len(expected) / 20),
        "page_number": 1,
        "page_size": 20,
    }
    assert [r["id"] for r in body["results"]] == expected[:20]
    assert list(body["time_entries"]) == expected[:20]


def test_pages_cover_every_record_once_and_the_last_page_is_short(api: httpx.Client) -> None:
    expected = ids_of(visible_entries())
    pages = math.ceil(len(expected) / 50)
    seen = []
    for page in range(1, pages + 1):
        body = get_ok(api, "/time_entries", {"per_page": 50, "page": page})
        assert body["meta"]["page_number"] == page
        assert body["meta"]["page_count"] == pages
        seen += [r["id"] for r in body["results"]]
    assert seen == expected
    assert len(expected) % 50 and len(body["results"]) == len(expected) % 50
    beyond = get_ok(api, "/time_entries", {"per_page": 50, "page": pages + 1})
    assert beyond["results"] == []
    assert beyond["time_entries"] == {}
    assert beyond["meta"] == {
        "count": len(expected),
        "page_count": pages,
        "page_number": pages + 1,
        "page_size": 50,
    }


@pytest.mark.parametrize(
    ("per_page", "page_size"),
    [("500", 200), ("200", 200), ("0", 20), ("-5", 20), ("abc", 20), ("7", 7)],
)
def test_per_page_is_clamped_like_brainstem(
    api: httpx.Client, per_page: str, page_size: int
) -> None:
    expected = ids_of(visible_entries())
    body = get_ok(api, "/time_entries", {"per_page": per_page})
    assert body["meta"]["page_size"] == page_size
    assert [r["id"] for r in body["results"]] == expected[:page_size]


def test_max_per_page_switch_lifts_the_clamp(api: httpx.Client, seeded: SandboxProcess) -> None:
    set_switches(seeded, max_per_page=5000)
    body = get_ok(api, "/time_entries", {"per_page": 500})
    assert body["meta"]["page_size"] == 500
    assert [r["id"] for r in body["results"]] == ids_of(visible_entries())


def test_empty_result_has_page_number_zero(api: httpx.Client) -> None:
    body = get_ok(api, "/time_entries.json", {"workspace_id": "999", "include": "user"})
    assert body == {
        "count": 0,
        "meta": {"count": 0, "page_count": 0, "page_number": 0, "page_size": 20},
        "results": [],
        "time_entries": {},
        "users": {},
    }


def test_limit_and_offset_page_together(api: httpx.Client) -> None:
    body = get_ok(api, "/time_entries", {"limit": 5, "offset": 10})
    assert [r["id"] for r in body["results"]] == ids_of(visible_entries())[10:15]


# --- filters -------------------------------------------------------------------------------------

STAMP = "2024-05-05T12:30:00-07:00"  # updated_at of generated entry 100 (id 21000)


def _date(doc: dict[str, Any]) -> str:
    return doc["date_performed"]


ENTRY_FILTERS: list[Any] = [
    pytest.param({"workspace_id": "302"}, lambda d: d["workspace_id"] == "302", id="workspace"),
    pytest.param(
        {"workspace_id": "301,302"}, lambda d: d["workspace_id"] in ("301", "302"), id="ids"
    ),
    pytest.param({"user_id": "11"}, lambda d: d["user_id"] == "11", id="user"),
    pytest.param({"story_id": "7001"}, lambda d: d["story_id"] == "7001", id="story"),
    pytest.param(
        {"date_performed_between": "2024-05-10:2024-05-12"},
        lambda d: "2024-05-10" <= _date(d) <= "2024-05-12",
        id="between",
    ),
    pytest.param(
        {"date_performed_between": "2024-05-25:"}, lambda d: _date(d) >= "2024-05-25", id="from"
    ),
    pytest.param(
        {"date_performed_between": ":2024-05-03"}, lambda d: _date(d) <= "2024-05-03", id="until"
    ),
    pytest.param(
        {"updated_after": STAMP}, lambda d: at(d["updated_at"]) > at(STAMP), id="updated_after"
    ),
    pytest.param(
        {"updated_before": STAMP}, lambda d: at(d["updated_at"]) < at(STAMP), id="updated_before"
    ),
    pytest.param(
        {"created_after": "2024-05-10T00:00:00Z"},
        lambda d: at(d["created_at"]) > at("2024-05-10T00:00:00Z"),
        id="created_after",
    ),
    pytest.param(
        {"created_before": "2024-05-03"},
        lambda d: at(d["created_at"]) < at("2024-05-03T00:00:00Z"),
        id="created_before_date",
    ),
    pytest.param({"approved": "true"}, lambda d: d["approved"], id="approved_true"),
    pytest.param({"approved": "false"}, lambda d: d["approved"], id="approved_false_quirk"),
    pytest.param({"approved": "0"}, lambda d: d["approved"], id="approved_0_quirk"),
    pytest.param({"approved": ""}, lambda d: d["approved"], id="approved_empty_quirk"),
    pytest.param(
        {"approved": "false", "workspace_id": "301", "date_performed_between": ":2024-05-15"},
        lambda d: d["approved"] and d["workspace_id"] == "301" and _date(d) <= "2024-05-15",
        id="combined",
    ),
]


@pytest.mark.parametrize(("params", "keep"), ENTRY_FILTERS)
def test_time_entry_filters(
    api: httpx.Client, params: dict[str, str], keep: Callable[[dict[str, Any]], bool]
) -> None:
    expected = ids_of([d for d in visible_entries() if keep(d)])
    assert expected, "the case must select something"
    assert every_id(api, "/time_entries.json", params) == expected


def test_approved_filter_ignores_its_value(api: httpx.Client) -> None:
    approved_only = every_id(api, "/time_entries", {"approved": "true"})
    assert every_id(api, "/time_entries", {"approved": "false"}) == approved_only
    assert {BY_ID["time_entries", i]["approved"] for i in approved_only} == {True}
    assert len(approved_only) < len(visible_entries())


def test_entries_of_archived_workspaces_need_from_archived_workspaces(api: httpx.Client) -> None:
    hidden = ids_of([t for t in RECORDS["time_entries"] if t["workspace_id"] == "303"])
    assert hidden
    assert not set(hidden) & set(every_id(api, "/time_entries"))
    everything = every_id(api, "/time_entries", {"from_archived_workspaces": "true"})
    assert everything == ids_of(RECORDS["time_entries"])
    assert get_ok(api, f"/time_entries/{hidden[0]}", {"from_archived_workspaces": "true"})
    assert api.get(f"/time_entries/{hidden[0]}").status_code == 404


def test_archived_workspaces_are_hidden_unless_include_archived(api: httpx.Client) -> None:
    assert "303" not in every_id(api, "/workspaces")
    assert every_id(api, "/workspaces", {"include_archived": "true"}) == ids_of(
        RECORDS["workspaces"]
    )
    response = api.get("/workspaces/303.json")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    shown = get_ok(api, "/workspaces/303.json", {"include_archived": "true"})
    assert shown["workspaces"]["303"] == BY_ID["workspaces", "303"]


def test_invalid_filter_values_are_syntax_errors(api: httpx.Client) -> None:
    for params in ({"updated_after": "yesterday"}, {"date_performed_between": "2024-05-01"}):
        response = api.get("/time_entries", params=params)
        assert response.status_code == 400
        [error] = response.json()["errors"]
        assert error["type"] == "syntax"


def test_only_returns_those_ids_in_default_order(api: httpx.Client) -> None:
    body = get_ok(api, "/time_entries", {"only": "20010,20000,5001"})
    assert body["count"] == 3
    assert [r["id"] for r in body["results"]] == ["5001", "20000", "20010"]


def test_other_collections_filter_by_their_references(api: httpx.Client) -> None:
    assert every_id(api, "/stories", {"workspace_id": "301"}) == ["7001"]
    assert every_id(api, "/stories", {"workspace_id": "301", "show_archived": "true"}) == [
        "7001",
        "7003",
    ]
    assert every_id(api, "/rate_card_versions", {"rate_card_id": "501"}) == ["601", "602"]
    assert every_id(api, "/rate_card_roles", {"role_id": "2"}) == ["702", "703"]
    assert every_id(api, "/invoices", {"workspace_id": "301"}) == ["4001"]
    assert every_id(api, "/invoices", {"workspace_id": "302"}) == []
    assert every_id(api, "/timesheet_submissions", {"user_id": "42"}) == ["880"]
    assert every_id(api, "/external_references", {"service_name": "Salesforce"}) == ["9001"]
    for collection in ("roles", "expense_categories", "users", "rate_cards"):
        assert every_id(api, f"/{collection}") == ids_of(RECORDS[collection])


# --- order ---------------------------------------------------------------------------------------


def test_order_by_a_sort_field_breaks_ties_by_id(api: httpx.Client) -> None:
    entries = visible_entries()
    by_date = sorted(entries, key=lambda d: (_date(d), int(d["id"])), reverse=True)
    assert every_id(api, "/time_entries", {"order": "date_performed:desc"}) == [
        d["id"] for d in by_date
    ]
    by_update = sorted(entries, key=lambda d: (at(d["updated_at"]), int(d["id"])))
    assert every_id(api, "/time_entries", {"order": "updated_at:asc"}) == [
        d["id"] for d in by_update
    ]
    assert every_id(api, "/time_entries", {"order": "id:desc"}) == ids_of(entries)[::-1]


def test_unknown_order_falls_back_to_the_default(api: httpx.Client) -> None:
    expected = ids_of(visible_entries())
    assert every_id(api, "/time_entries", {"order": "notes:desc"}) == expected


def test_expenses_default_to_date_descending(api: httpx.Client) -> None:
    assert every_id(api, "/expenses") == ["3005", "3004", "3003", "3002", "3001"]
    assert every_id(api, "/expenses", {"date_expensed_between": "2024-05-05:2024-05-31"}) == [
        "3004",
        "3003",
        "3002",
    ]
    assert every_id(api, "/expenses", {"approved": "false"}) == ["3005", "3004", "3003", "3001"]
    assert "3006" in every_id(api, "/expenses", {"from_archived_workspaces": "true"})


# --- include -------------------------------------------------------------------------------------


def test_include_user_and_workspace_adds_the_referenced_objects(api: httpx.Client) -> None:
    body = get_ok(api, "/time_entries.json", {"include": "user,workspace", "per_page": 50})
    page = body["time_entries"].values()
    assert set(body["users"]) == {t["user_id"] for t in page}
    assert set(body["workspaces"]) == {t["workspace_id"] for t in page}
    for rid, user in body["users"].items():
        assert user == BY_ID["users", rid]
    for rid, workspace in body["workspaces"].items():
        assert workspace == BY_ID["workspaces", rid]


def test_include_of_an_id_array_and_unknown_includes(api: httpx.Client) -> None:
    body = get_ok(api, "/invoices", {"include": "workspaces,time_entries,bogus"})
    assert set(body) == {"count", "meta", "results", "invoices", "workspaces", "time_entries"}
    assert body["workspaces"] == {"301": BY_ID["workspaces", "301"]}
    assert body["time_entries"] == {"5001": BY_ID["time_entries", "5001"]}


# --- show, me, 404, auth -------------------------------------------------------------------------


def test_show_answers_the_envelope_of_one_record(api: httpx.Client) -> None:
    body = get_ok(api, "/time_entries/20000", {"include": "workspace"})
    assert body["count"] == 1
    assert body["results"] == [{"key": "time_entries", "id": "20000"}]
    assert body["time_entries"]["20000"] == BY_ID["time_entries", "20000"]
    assert body["workspaces"] == {"301": BY_ID["workspaces", "301"]}


@pytest.mark.parametrize("path", ["/time_entries/424242", "/time_entries/abc", "/widgets", "/"])
def test_missing_records_and_routes_answer_the_kantata_404(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_users_me_is_the_lowest_user_unless_switched(
    api: httpx.Client, seeded: SandboxProcess
) -> None:
    assert get_ok(api, "/users/me")["results"] == [{"key": "users", "id": "10"}]
    set_switches(seeded, me_user_id=42)
    assert get_ok(api, "/users/me.json")["users"] == {"42": BY_ID["users", "42"]}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic cHNhOnBzYQ=="}],
    ids=["missing", "wrong", "basic"],
)
def test_requests_without_the_token_get_401(psa: dict[str, Any], headers: dict[str, str]) -> None:
    response = httpx.get(f"{psa['base_url']}/api/v1/time_entries.json", headers=headers)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


# --- writes --------------------------------------------------------------------------------------


def test_create_time_entry_derives_fields_and_is_logged(
    api: httpx.Client, seeded: SandboxProcess
) -> None:
    item = {
        "workspace_id": 301,
        "date_performed": "2024-08-01",
        "time_in_minutes": 45,
        "role_id": 2,
        "story_id": "7001",
        "notes": "Sandbox test",
        "approved": True,
    }
    response = api.post("/time_entries.json", json={"time_entry": item})
    assert response.status_code == 200, response.text
    body = response.json()
    [result] = body["results"]
    new_id = result["id"]
    entry = body["time_entries"][new_id]
    assert int(new_id) > 10**8
    assert body["count"] == 1
    assert {k: entry[k] for k in ("workspace_id", "story_id", "role_id", "user_id")} == {
        "workspace_id": "301",
        "story_id": "7001",
        "role_id": "2",
        "user_id": "10",
    }
    # Rate card 501, version 602 (in effect from 2024-07-01), role 2; approvals required.
    assert entry["rate_in_cents"] == 19000
    assert entry["approved"] is False
    assert (entry["currency"], entry["currency_symbol"], entry["billable"]) == ("USD", "$", True)
    assert OFFSET_STAMP.fullmatch(entry["updated_at"])
    assert entry["created_at"] == entry["updated_at"]
    assert get_ok(api, f"/time_entries/{new_id}")["time_entries"][new_id] == entry
    assert posted(seeded) == [
        ("POST", "/api/v1/time_entries.json", "time_entries", int(new_id), 200, item)
    ]


def test_create_status_switch(api: httpx.Client, seeded: SandboxProcess) -> None:
    set_switches(seeded, create_status=201)
    item = {"workspace_id": 302, "date_performed": "2024-06-03", "time_in_minutes": 60}
    assert api.post("/time_entries", json={"time_entry": item}).status_code == 201


def test_bulk_create_uses_the_plural_root_key(api: httpx.Client, seeded: SandboxProcess) -> None:
    items = [
        {"workspace_id": "302", "date_performed": "2024-06-03", "time_in_minutes": 60},
        {"workspace_id": 302, "date_performed": "2024-06-04", "time_in_minutes": 90, "user_id": 11},
    ]
    response = api.post("/time_entries", json={"time_entries": items})
    assert response.status_code == 200, response.text
    body = response.json()
    new_ids = [r["id"] for r in body["results"]]
    assert len(new_ids) == 2
    assert new_ids == sorted(new_ids, key=int)
    created = [body["time_entries"][i] for i in new_ids]
    assert [e["date_performed"] for e in created] == ["2024-06-03", "2024-06-04"]
    assert [e["user_id"] for e in created] == ["10", "11"]
    assert {(e["approved"], e["currency"], e["currency_symbol"]) for e in created} == {
        (True, "EUR", "€")
    }
    assert get_ok(api, "/time_entries")["count"] == len(visible_entries()) + 2
    assert [w[3] for w in posted(seeded)] == [int(i) for i in new_ids]


def test_bulk_create_with_an_invalid_item_creates_nothing(
    api: httpx.Client, seeded: SandboxProcess
) -> None:
    payload = {
        "time_entries": [
            {"workspace_id": 302, "date_performed": "2024-06-03", "time_in_minutes": 60},
            {"workspace_id": 302, "date_performed": "2024-06-31", "time_in_minutes": 0},
        ]
    }
    response = api.post("/time_entries", json=payload)
    assert response.status_code == 422
    assert response.json() == {
        "errors": [
            {
                "type": "validation",
                "field": "date_performed",
                "message": "Date performed is not a valid date",
                "index": 1,
            },
            {
                "type": "validation",
                "field": "time_in_minutes",
                "message": "Time in minutes must be greater than 0",
                "index": 1,
            },
        ]
    }
    assert stored_count(seeded, "time_entries") == len(RECORDS["time_entries"])
    assert posted(seeded) == [("POST", "/api/v1/time_entries", "time_entries", None, 422, payload)]


def test_validation_error_body_on_a_bad_create(api: httpx.Client) -> None:
    item = {"workspace_id": 301, "date_performed": "2024-05-02"}
    response = api.post("/time_entries.json", json={"time_entry": item})
    assert response.status_code == 422
    assert response.json() == {
        "errors": [
            {
                "type": "validation",
                "field": "time_in_minutes",
                "message": "Time in minutes can't be blank",
                "index": 0,
            }
        ]
    }
    missing_workspace = {"workspace_id": 999, "date_performed": "2024-05-02", "time_in_minutes": 5}
    errors = api.post("/time_entries", json={"time_entry": missing_workspace}).json()["errors"]
    assert [(e["field"], e["message"]) for e in errors] == [
        ("workspace_id", "Workspace must exist")
    ]


@pytest.mark.parametrize(
    "payload",
    [
        {"timeentry": {"workspace_id": 301}},
        {"time_entries": []},
        {"time_entries": [{"workspace_id": 302}] * 101},
        ["not", "an", "object"],
    ],
    ids=["missing_root_key", "empty_bulk", "over_100", "not_an_object"],
)
def test_malformed_creates_are_syntax_errors(api: httpx.Client, payload: Any) -> None:
    response = api.post("/time_entries", json=payload)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["type"] == "syntax"


def test_update_time_entry_bumps_updated_at(api: httpx.Client, seeded: SandboxProcess) -> None:
    before = BY_ID["time_entries", "20000"]
    item = {"notes": "Corrected", "time_in_minutes": 120, "is_invoiced": True}
    response = api.put("/time_entries/20000.json", json={"time_entry": item})
    assert response.status_code == 200, response.text
    entry = response.json()["time_entries"]["20000"]
    assert entry == {
        **before,
        "notes": "Corrected",
        "time_in_minutes": 120,
        "updated_at": entry["updated_at"],
    }
    assert at(entry["updated_at"]) > at(before["updated_at"])
    assert every_id(api, "/time_entries", {"updated_after": "2025-01-01T00:00:00Z"}) == ["20000"]
    assert posted(seeded) == [
        ("PUT", "/api/v1/time_entries/20000.json", "time_entries", 20000, 200, item)
    ]
    bad = api.put("/time_entries/20000", json={"time_entry": {"time_in_minutes": "lots"}})
    assert bad.status_code == 422
    assert api.put("/time_entries/424242", json={"time_entry": {"notes": "x"}}).status_code == 404


def test_delete_time_entries(api: httpx.Client, seeded: SandboxProcess) -> None:
    response = api.delete("/time_entries/20010.json")
    assert response.status_code == 204
    assert response.content == b""
    assert api.get("/time_entries/20010").status_code == 404
    assert api.delete("/time_entries/20010").status_code == 404
    assert api.delete("/time_entries", params={"ids": "20020,424242"}).status_code == 404
    assert get_ok(api, "/time_entries/20020")["count"] == 1
    assert api.delete("/time_entries", params={"ids": "20020,20030"}).status_code == 204
    assert get_ok(api, "/time_entries", {"only": "20020,20030"})["count"] == 0
    writes = [(w[0], w[3], w[4]) for w in posted(seeded)]
    assert writes == [
        ("DELETE", 20010, 204),
        ("DELETE", 20010, 404),
        ("DELETE", None, 404),
        ("DELETE", 20020, 204),
        ("DELETE", 20030, 204),
    ]


def test_invoice_status_write_back(api: httpx.Client, seeded: SandboxProcess) -> None:
    item = {"status": "paid", "payment_status": "paid", "balance_in_cents": 0}
    response = api.put("/invoices/4001.json", json={"invoice": item})
    assert response.status_code == 200, response.text
    invoice = response.json()["invoices"]["4001"]
    before = BY_ID["invoices", "4001"]
    assert invoice == {
        **before,
        "status": "paid",
        "payment_status": "paid",
        "updated_at": invoice["updated_at"],
    }
    assert at(invoice["updated_at"]) > at(before["updated_at"])
    assert get_ok(api, "/invoices/4001")["invoices"]["4001"] == invoice
    assert posted(seeded) == [("PUT", "/api/v1/invoices/4001.json", "invoices", 4001, 200, item)]
    assert api.post("/invoices", json={"invoice": item}).status_code == 404


def test_workspace_create_update_and_archive(api: httpx.Client, seeded: SandboxProcess) -> None:
    item = {"title": "New rollout", "rate_card_id": 501, "creator_role": "maven"}
    response = api.post("/workspaces", json={"workspace": item})
    assert response.status_code == 200, response.text
    [new_id] = response.json()["workspaces"]
    workspace = response.json()["workspaces"][new_id]
    assert {k: workspace[k] for k in ("title", "account_id", "archived", "rate_card_id")} == {
        "title": "New rollout",
        "account_id": "9",
        "archived": False,
        "rate_card_id": "501",
    }
    assert workspace["external_reference_ids"] == []
    assert "creator_role" not in workspace
    assert new_id in every_id(api, "/workspaces")
    update = api.put(f"/workspaces/{new_id}", json={"workspace": {"archived": True}})
    assert update.status_code == 200
    assert new_id not in every_id(api, "/workspaces")
    assert api.get(f"/workspaces/{new_id}").status_code == 404
    blank = api.post("/workspaces", json={"workspace": {"title": ""}})
    assert blank.status_code == 422
    assert blank.json()["errors"][0]["message"] == "Title can't be blank"


def test_user_create_and_update(api: httpx.Client) -> None:
    taken = api.post(
        "/users", json={"user": {"full_name": "X", "email_address": "GRACE@example.com"}}
    )
    assert taken.status_code == 422
    assert taken.json()["errors"][0]["message"] == "Email address has already been taken"
    item = {"full_name": "Noor Haddad", "email_address": "noor@example.com"}
    response = api.post("/users.json", json={"user": item})
    assert response.status_code == 200, response.text
    [new_id] = response.json()["users"]
    user = response.json()["users"][new_id]
    assert (user["full_name"], user["account_id"], user["disabled"]) == ("Noor Haddad", "9", False)
    updated = api.put("/users/11", json={"user": {"headline": "Lead engineer"}})
    assert updated.json()["users"]["11"]["headline"] == "Lead engineer"


def test_external_reference_is_linked_to_its_subject(api: httpx.Client) -> None:
    item = {
        "subject_type": "Workspace",
        "subject_id": 302,
        "service_name": "NetSuite",
        "service_model": "job",
        "service_model_ref": 4711,
        "status": "successful",
    }
    response = api.post("/external_references", json={"external_reference": item})
    assert response.status_code == 200, response.text
    [ref_id] = response.json()["external_references"]
    reference = response.json()["external_references"][ref_id]
    assert (reference["subject_id"], reference["service_model_ref"]) == ("302", "4711")
    body = get_ok(api, "/workspaces/302", {"include": "external_references"})
    workspace = body["workspaces"]["302"]
    assert workspace["external_reference_ids"] == [ref_id]
    assert workspace["updated_at"] == BY_ID["workspaces", "302"]["updated_at"]
    assert body["external_references"] == {ref_id: reference}
    assert every_id(api, "/external_references", {"service_name": "NetSuite"}) == [ref_id]
    orphan = {**item, "subject_id": 999}
    errors = api.post("/external_references", json={"external_reference": orphan}).json()
    assert errors["errors"][0]["message"] == "Subject must exist"


def test_nested_external_reference_on_create(api: httpx.Client) -> None:
    item = {
        "workspace_id": 302,
        "date_performed": "2024-06-05",
        "time_in_minutes": 30,
        "external_reference": {
            "service_name": "NetSuite",
            "service_model": "timeBill",
            "service_model_ref": "TB-1",
        },
    }
    body = api.post("/time_entries", json={"time_entry": item}).json()
    [entry_id] = body["time_entries"]
    [ref_id] = body["time_entries"][entry_id]["external_reference_ids"]
    reference = get_ok(api, f"/external_references/{ref_id}")["external_references"][ref_id]
    assert (reference["subject_type"], reference["subject_id"]) == ("TimeEntry", entry_id)
    assert reference["service_model_ref"] == "TB-1"


# --- switches ------------------------------------------------------------------------------------


def test_timestamp_style_z(api: httpx.Client, seeded: SandboxProcess) -> None:
    set_switches(seeded, timestamp_style="z")
    entry = get_ok(api, "/time_entries/5001")["time_entries"]["5001"]
    assert (entry["created_at"], entry["updated_at"]) == (
        "2024-05-02T21:03:11Z",
        "2024-05-03T16:12:45Z",
    )
    item = {"workspace_id": 302, "date_performed": "2024-06-03", "time_in_minutes": 60}
    created = api.post("/time_entries", json={"time_entry": item}).json()["time_entries"]
    assert all(Z_STAMP.fullmatch(e["updated_at"]) for e in created.values())


def test_rate_limit_switch_answers_429_with_retry_after(
    api: httpx.Client, seeded: SandboxProcess
) -> None:
    set_switches(seeded, rate_limit_per_second=2, retry_after=3)
    responses = [api.get("/users") for _ in range(6)]
    assert [r.status_code for r in responses[:2]] == [200, 200]
    throttled = [r for r in responses if r.status_code == 429]
    assert throttled
    assert throttled[0].json() == TOO_MANY_REQUESTS
    assert throttled[0].headers["Retry-After"] == "3"


def test_workspaces_have_their_own_rate_limit(api: httpx.Client, seeded: SandboxProcess) -> None:
    set_switches(seeded, workspaces_rate_limit_per_second=1)
    statuses = [api.get("/workspaces").status_code for _ in range(3)]
    assert statuses[0] == 200
    assert 429 in statuses
    assert api.get("/users").status_code == 200


# --- injected faults -----------------------------------------------------------------------------


def test_injected_429_has_the_kantata_body_and_retry_after(
    api: httpx.Client, seeded: SandboxProcess
) -> None:
    add_fault(
        seeded, kind="status", status=429, route="/api/v1/time_entries*", times=1, retry_after="2"
    )
    throttled = api.get("/time_entries.json")
    assert throttled.status_code == 429
    assert throttled.json() == TOO_MANY_REQUESTS
    assert throttled.headers["Retry-After"] == "2"
    assert api.get("/time_entries.json").status_code == 200


@pytest.mark.parametrize(
    ("status", "message"), [(503, "Service Unavailable"), (500, "Internal Server Error")]
)
def test_injected_5xx_bodies(
    api: httpx.Client, seeded: SandboxProcess, status: int, message: str
) -> None:
    set_switches(seeded, retry_after=7)
    add_fault(seeded, kind="status", status=status, route="/api/v1/*", times=1)
    response = api.get("/users")
    assert response.status_code == status
    assert response.json() == {"errors": [{"type": "system", "message": message}]}
    assert response.headers.get("Retry-After") == ("7" if status == 503 else None)


def test_token_expired_fault_answers_the_401_body(
    api: httpx.Client, seeded: SandboxProcess
) -> None:
    add_fault(seeded, kind="token_expired", route="/api/v1/*", times=1)
    response = api.get("/time_entries")
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert api.get("/time_entries").status_code == 200


def test_concurrency_cap_answers_429(api: httpx.Client, seeded: SandboxProcess) -> None:
    add_fault(seeded, kind="concurrency_cap", route="/api/v1/users*", limit=0)
    response = api.get("/users")
    assert response.status_code == 429
    assert response.json() == TOO_MANY_REQUESTS


def wait_for_count(sandbox: SandboxProcess, rtype: str, count: int) -> None:
    """Wait until the store holds ``count`` records (the fault inserts after answering)."""
    deadline = time.monotonic() + 10
    while stored_count(sandbox, rtype) < count:
        assert time.monotonic() < deadline, f"{rtype} never reached {count}"
        time.sleep(0.02)


def test_insert_while_paging_shifts_time_entry_pages(
    api: httpx.Client, seeded: SandboxProcess
) -> None:
    add_fault(
        seeded,
        kind="insert_while_paging",
        route="/api/v1/time_entries*",
        method="GET",
        times=1,
        count=3,
    )
    params = {"workspace_id": "302", "per_page": 20}
    first = get_ok(api, "/time_entries.json", {**params, "page": 1})
    wait_for_count(seeded, "time_entries", len(RECORDS["time_entries"]) + 3)
    second = get_ok(api, "/time_entries.json", {**params, "page": 2})
    page_one = [r["id"] for r in first["results"]]
    page_two = [r["id"] for r in second["results"]]
    assert second["meta"]["count"] == first["meta"]["count"] + 3
    assert page_two[:3] == page_one[-3:]
    seeded_ids = ids_of([d for d in visible_entries() if d["workspace_id"] == "302"])
    new_ids = set(every_id(api, "/time_entries", params)) - set(seeded_ids)
    assert len(new_ids) == 3
    assert all(int(i) < int(page_one[0]) for i in new_ids)
    new = get_ok(api, "/time_entries", {"only": ",".join(new_ids)})["time_entries"]
    assert {e["workspace_id"] for e in new.values()} == {"302"}


def test_insert_while_paging_shifts_expense_pages(
    api: httpx.Client, seeded: SandboxProcess
) -> None:
    add_fault(seeded, kind="insert_while_paging", route="/api/v1/expenses*", times=1, count=1)
    first = get_ok(api, "/expenses", {"per_page": 2, "page": 1})
    wait_for_count(seeded, "expenses", len(RECORDS["expenses"]) + 1)
    second = get_ok(api, "/expenses", {"per_page": 2, "page": 2})
    assert [r["id"] for r in first["results"]] == ["3005", "3004"]
    assert [r["id"] for r in second["results"]] == ["3004", "3003"]
    assert second["meta"]["count"] == first["meta"]["count"] + 1
