"""Every fault switch of the sandbox core shows its effect over real HTTP; the admin API works.

A minimal vendor ("echo", a paged item list in its own PostgreSQL database) is served through
the same core the four vendor services use: the fault middleware, the sandbox's uvicorn
protocol (for TCP resets), the store and the admin API.
"""

from __future__ import annotations

import email.utils
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, Response

from sandbox.faults import FaultRegistry, FaultRule, VendorResponses
from sandbox.server import Sandbox, admin_app, content_hash
from sandbox.store import RecordRow, VendorStore
from sandbox.testing import ThreadedServer
from sandbox.vendor import Vendor, VendorContext

PAGE = 10


class EchoResponses(VendorResponses):
    """Recognisable vendor bodies, so tests can tell them from generic ones."""

    def __init__(self, store: VendorStore) -> None:
        self.store = store

    def status(self, rule: FaultRule) -> Response:
        return JSONResponse({"echo_error": rule.status}, status_code=rule.status)

    def token_expired(self) -> Response:
        return JSONResponse({"echo_error": "session expired"}, status_code=401)

    def concurrency_exceeded(self, rule: FaultRule) -> Response:
        return JSONResponse({"echo_error": "too many in flight"}, status_code=429)

    def insert_while_paging(self, path: str, query: str, count: int) -> None:
        # Items are listed newest (highest id) first: new items push every later page down.
        with self.store.connection() as conn:
            for _ in range(count):
                rid = self.store.next_id(conn)
                self.store.put(conn, "items", rid, {"id": rid, "name": "inserted"})


class EchoVendor(Vendor):
    """A tiny paged API: GET /items?page=N (newest first), POST /items."""

    name = "echo"
    default_switches: ClassVar[dict[str, Any]] = {"page_size": PAGE}

    def routes(self, app: FastAPI) -> None:
        store = self.ctx.store

        @app.get("/items")
        def items(page: int = 1) -> Response:
            size = self.ctx.switches["page_size"]
            with store.connection() as conn:
                rows = conn.execute(
                    "SELECT data FROM record WHERE type = 'items' "
                    "ORDER BY id DESC LIMIT %s OFFSET %s",
                    (size, (page - 1) * size),
                ).fetchall()
            return JSONResponse({"items": [r["data"] for r in rows]})

        @app.post("/items")
        async def create(request: Request) -> Response:
            body = await request.json()
            with store.connection() as conn:
                rid = store.next_id(conn)
                store.put(conn, "items", rid, {"id": rid, **body})
                store.log_write(
                    conn,
                    method="POST",
                    path="/items",
                    status=201,
                    record_type="items",
                    record_id=rid,
                    body=body,
                )
            return JSONResponse({"id": rid}, status_code=201)

    def responses(self) -> VendorResponses:
        return EchoResponses(self.ctx.store)


@pytest.fixture(scope="module")
def echo(server_url):
    prefix = f"ps_sync_test_{uuid.uuid4().hex[:8]}"
    store = VendorStore(server_url, prefix, "echo")
    store.ensure()
    store.copy_records(RecordRow("items", i, {"id": i, "name": f"item {i}"}) for i in range(1, 51))
    store.snapshot_seed()
    admin_store = VendorStore(server_url, prefix, "admin")
    admin_store.ensure()
    ctx = VendorContext(
        name="echo",
        store=store,
        faults=FaultRegistry(seed=0),
        switches=dict(EchoVendor.default_switches),
        credentials={},
    )
    vendor = EchoVendor(ctx)
    sandbox = Sandbox(vendors={"echo": vendor}, admin_store=admin_store)
    with ThreadedServer(vendor.build_app()) as url, ThreadedServer(admin_app(sandbox)) as admin:
        ctx.base_url = url
        yield {"url": url, "admin": admin, "ctx": ctx, "store": store}
    store.drop()
    admin_store.drop()


@pytest.fixture
def api(echo):
    httpx.post(f"{echo['admin']}/_sandbox/reset").raise_for_status()
    with httpx.Client(base_url=echo["url"], timeout=10) as client:
        yield client


def add_fault(echo: dict, **rule: Any) -> dict:
    response = httpx.post(f"{echo['admin']}/_sandbox/faults/echo", json=rule)
    response.raise_for_status()
    return response.json()


def test_latency_delays_the_answer(echo, api):
    add_fault(echo, kind="latency", latency_ms=400, route="/items")
    started = time.perf_counter()
    assert api.get("/items").status_code == 200
    assert time.perf_counter() - started >= 0.4


def test_status_fault_uses_the_vendor_body_and_retry_after_in_seconds(echo, api):
    add_fault(echo, kind="status", status=429, retry_after="7", times=1)
    first = api.get("/items")
    assert first.status_code == 429
    assert first.json() == {"echo_error": 429}
    assert first.headers["Retry-After"] == "7"
    # times=1: the next request goes through.
    assert api.get("/items").status_code == 200


def test_retry_after_as_http_date(echo, api):
    add_fault(echo, kind="status", status=503, retry_after="date:30")
    response = api.get("/items")
    assert response.status_code == 503
    when = email.utils.parsedate_to_datetime(response.headers["Retry-After"])
    assert 20 <= when.timestamp() - time.time() <= 40


def test_status_without_retry_after_sends_no_header(echo, api):
    add_fault(echo, kind="status", status=500)
    response = api.get("/items")
    assert response.status_code == 500 and "Retry-After" not in response.headers


def test_skip_then_times_window_and_route_method_matching(echo, api):
    add_fault(echo, kind="status", status=503, route="/items", method="GET", skip=1, times=2)
    assert [api.get("/items").status_code for _ in range(4)] == [200, 503, 503, 200]
    # The rule is for GET only: a POST is untouched.
    add_fault(echo, kind="status", status=500, route="/other*")
    assert api.post("/items", json={"name": "x"}).status_code == 201


def test_probability_is_seeded_and_repeatable(echo, api):
    def pattern() -> list[int]:
        httpx.delete(f"{echo['admin']}/_sandbox/faults/echo").raise_for_status()
        httpx.post(f"{echo['admin']}/_sandbox/reset").raise_for_status()  # reseeds to 0
        add_fault(echo, kind="status", status=503, probability=0.5)
        return [api.get("/items").status_code for _ in range(40)]

    first, second = pattern(), pattern()
    assert first == second
    assert 8 <= first.count(503) <= 32


def test_reset_closes_the_connection_without_an_answer(echo, api):
    add_fault(echo, kind="reset", times=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.get("/items")
    assert api.get("/items").status_code == 200


def test_drop_after_commit_loses_the_answer_but_keeps_the_write(echo, api):
    add_fault(echo, kind="drop_after_commit", method="POST", route="/items", times=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.post("/items", json={"name": "committed-but-unanswered"})
    posted = httpx.get(f"{echo['admin']}/_sandbox/posted/echo").json()
    assert [p["body"]["name"] for p in posted] == ["committed-but-unanswered"]
    with echo["store"].connection() as conn:
        n = conn.execute(
            "SELECT count(*) AS n FROM record WHERE data->>'name' = 'committed-but-unanswered'"
        ).fetchone()["n"]
    assert n == 1


def test_truncate_sends_half_the_promised_body(echo, api):
    add_fault(echo, kind="truncate", times=1)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        api.get("/items")


def test_malformed_page_is_not_json(echo, api):
    add_fault(echo, kind="malformed", times=1)
    response = api.get("/items")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_token_expired_answers_the_vendor_401(echo, api):
    add_fault(echo, kind="token_expired", times=1)
    response = api.get("/items")
    assert response.status_code == 401
    assert response.json() == {"echo_error": "session expired"}


def test_insert_while_paging_shifts_later_pages(echo, api):
    clean = [i["id"] for p in (1, 2) for i in api.get("/items", params={"page": p}).json()["items"]]
    assert len(set(clean)) == 2 * PAGE
    add_fault(echo, kind="insert_while_paging", count=3, times=1)
    page1 = [i["id"] for i in api.get("/items", params={"page": 1}).json()["items"]]
    page2 = [i["id"] for i in api.get("/items", params={"page": 2}).json()["items"]]
    # Three new items went in ahead: the last three of page 1 are served again on page 2.
    assert page2[:3] == page1[-3:]


def test_concurrency_cap_rejects_requests_over_the_limit(echo):
    add_fault(echo, kind="concurrency_cap", limit=2)
    add_fault(echo, kind="latency", latency_ms=600)
    barrier = threading.Barrier(5)

    def call(_: int) -> httpx.Response:
        barrier.wait()
        return httpx.get(f"{echo['url']}/items", timeout=10)

    with ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(call, range(5)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 200, 429, 429, 429]
    assert all(
        r.json() == {"echo_error": "too many in flight"} for r in responses if r.status_code == 429
    )
    rules = httpx.get(f"{echo['admin']}/_sandbox/faults/echo").json()
    cap = next(r for r in rules if r["kind"] == "concurrency_cap")
    assert cap["injected"] == 3


def test_admin_paths_are_never_faulted_and_faults_can_be_listed_and_cleared(echo, api):
    add_fault(echo, kind="status", status=500)
    assert httpx.get(f"{echo['admin']}/_sandbox/health").status_code == 200
    listed = httpx.get(f"{echo['admin']}/_sandbox/faults/echo").json()
    assert [r["kind"] for r in listed] == ["status"]
    assert api.get("/items").status_code == 500
    assert listed[0]["matched"] == 0
    assert httpx.get(f"{echo['admin']}/_sandbox/faults/echo").json()[0]["injected"] == 1
    httpx.delete(f"{echo['admin']}/_sandbox/faults/echo").raise_for_status()
    assert api.get("/items").status_code == 200
    replaced = httpx.put(
        f"{echo['admin']}/_sandbox/faults/echo", json=[{"kind": "latency", "latency_ms": 1}]
    ).json()
    assert [r["kind"] for r in replaced] == ["latency"]


def test_invalid_fault_rule_is_rejected(echo):
    response = httpx.post(f"{echo['admin']}/_sandbox/faults/echo", json={"kind": "explode"})
    assert response.status_code == 422
    assert (
        httpx.post(f"{echo['admin']}/_sandbox/faults/nope", json={"kind": "reset"}).status_code
        == 404
    )


def test_switches_change_behaviour_and_unknown_ones_are_refused(echo, api):
    assert httpx.get(f"{echo['admin']}/_sandbox/switches/echo").json() == {"page_size": PAGE}
    httpx.patch(f"{echo['admin']}/_sandbox/switches/echo", json={"page_size": 3}).raise_for_status()
    assert len(api.get("/items").json()["items"]) == 3
    bad = httpx.patch(f"{echo['admin']}/_sandbox/switches/echo", json={"no_such_switch": 1})
    assert bad.status_code == 422 and "no_such_switch" in bad.text
    httpx.post(f"{echo['admin']}/_sandbox/reset").raise_for_status()
    assert len(api.get("/items").json()["items"]) == PAGE


def test_reset_restores_the_seeded_records_and_forgets_writes(echo, api):
    before = content_hash(echo["store"])
    api.post("/items", json={"name": "temporary"}).raise_for_status()
    assert content_hash(echo["store"]) != before
    assert httpx.get(f"{echo['admin']}/_sandbox/counts").json() == {"echo": {"items": 51}}
    httpx.post(f"{echo['admin']}/_sandbox/reset").raise_for_status()
    assert content_hash(echo["store"]) == before
    assert httpx.get(f"{echo['admin']}/_sandbox/posted/echo").json() == []
