"""The shared HTTP machinery: retry policy, failure classification, auth, paging, safe logs.

The client runs over a scripted transport (a ``requests`` adapter that plays back answers and
exceptions in order), with an injected sleep and clock, so every wait is exact and no test
sleeps.
"""

from __future__ import annotations

import json
import logging
import re
from email.utils import formatdate
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import MaxRetryError, NewConnectionError

from ps_sync.hooks.http import (
    ApiClient,
    AuthenticationError,
    BearerTokenAuth,
    ConfigurationError,
    FatalAPIError,
    KantataPagination,
    NetSuiteOffsetPagination,
    NetSuiteTBAAuth,
    NotFoundError,
    RecentKeys,
    RecordRejectedError,
    RetryableAPIError,
    RetryPolicy,
    Timeouts,
    VendorError,
    record_rejections,
)

BASE = "https://vendor.test/api"
TOKEN = "tok-0123456789-very-secret"
NOW = 1_800_000_000.0


# --- a scripted transport ----------------------------------------------------------------------


def answer(status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> tuple:
    """A scripted answer; ``body`` is sent as JSON unless it is bytes."""
    content = (
        body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    )
    return (status, headers or {}, content)


class ScriptedAdapter(BaseAdapter):
    """Plays back answers and exceptions in order; remembers every request it was sent."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__()
        self.script = list(script)
        self.sent: list[requests.PreparedRequest] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.sent.append(request)
        step = self.script.pop(0)
        if isinstance(step, BaseException):
            raise step
        status, headers, content = step
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        response._content = content
        response.request = request
        response.url = request.url or ""
        return response

    def close(self) -> None:
        """Nothing to close."""


def simple_errors(body: Any) -> VendorError:
    """Error bodies shaped ``{"code", "message", "field"}``."""
    if isinstance(body, dict):
        return VendorError(body.get("code"), body.get("message"), body.get("field"))
    return VendorError()


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(sleeps: list[float]):
    """An ApiClient over a ScriptedAdapter; waits are recorded in ``sleeps``, never slept."""
    clients: list[ApiClient] = []

    def make(script: list[Any], **policy: Any) -> tuple[ApiClient, ScriptedAdapter]:
        defaults = {"sleep": sleeps.append, "random": lambda: 0.0, "clock": lambda: NOW}
        client = ApiClient(
            system="Vendor",
            conn_id="vendor_default",
            base_url=BASE,
            auth=BearerTokenAuth(TOKEN),
            error_parser=simple_errors,
            policy=RetryPolicy(**{**defaults, **policy}),
            timeouts=Timeouts(connect=1, read=2),
            auth_hint="check the connection's token",
        )
        adapter = ScriptedAdapter(script)
        client.session.mount(BASE, adapter)
        clients.append(client)
        return client, adapter

    yield make
    for client in clients:
        client.close()


def reset() -> requests.ConnectionError:
    """What requests raises when the server resets the connection mid-answer."""
    return requests.ConnectionError(
        "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))"
    )


def refused() -> requests.ConnectionError:
    """What requests raises when no connection could be made at all."""
    reason = NewConnectionError(None, "Failed to establish a new connection: refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/x", reason))  # type: ignore[arg-type]


# --- RetryPolicy ---------------------------------------------------------------------------------


def test_retry_after_in_seconds_and_as_http_date():
    policy = RetryPolicy(clock=lambda: NOW)
    assert policy.retry_after("7") == 7.0
    assert policy.retry_after(" 0 ") == 0.0
    assert policy.retry_after(formatdate(NOW + 12, usegmt=True)) == pytest.approx(12.0)
    # A date in the past means "now", never a negative wait.
    assert policy.retry_after(formatdate(NOW - 30, usegmt=True)) == 0.0
    assert policy.retry_after(None) is None
    assert policy.retry_after("soon") is None


def test_retry_after_wins_over_backoff_and_too_long_a_wait_ends_the_retries():
    policy = RetryPolicy(backoff_base=0.5, jitter=0.0, max_retry_after=60, clock=lambda: NOW)
    assert policy.wait(1, None) == 0.5
    assert policy.wait(4, "3") == 3.0
    assert policy.wait(1, formatdate(NOW + 20, usegmt=True)) == pytest.approx(20.0)
    assert policy.wait(1, "3600") is None


def test_backoff_grows_exponentially_up_to_the_cap_with_jitter_below_it():
    exact = RetryPolicy(backoff_base=0.5, backoff_cap=5.0, jitter=0.0)
    assert [exact.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert exact.backoff(200) == 5.0
    lowest = RetryPolicy(backoff_base=1.0, backoff_cap=8.0, jitter=0.5, random=lambda: 0.999999)
    highest = RetryPolicy(backoff_base=1.0, backoff_cap=8.0, jitter=0.5, random=lambda: 0.0)
    for attempt in range(1, 10):
        ceiling = min(8.0, 2 ** (attempt - 1))
        assert ceiling / 2 <= lowest.backoff(attempt) <= highest.backoff(attempt) == ceiling


@pytest.mark.parametrize(
    ("status", "code", "idempotent", "retried"),
    [
        (429, None, True, True),
        (429, None, False, True),
        (503, None, False, True),
        (500, None, True, True),
        (502, None, True, True),
        (504, None, True, True),
        (500, None, False, False),  # a POST may have been processed before the 500
        (401, None, True, False),
        (403, None, True, False),
        (404, None, True, False),
        (400, None, True, False),
        (422, None, True, False),
        (400, "CONCURRENCY_LIMIT_EXCEEDED", True, True),
        (400, "CONCURRENCY_LIMIT_EXCEEDED", False, True),
        (400, "INVALID_CONTENT", True, False),
    ],
)
def test_which_answers_are_retried(status, code, idempotent, retried):
    policy = RetryPolicy().with_codes("CONCURRENCY_LIMIT_EXCEEDED")
    assert policy.retries_status(status, code, idempotent=idempotent) is retried


# --- the client: classification and retries ------------------------------------------------------


def test_429_with_retry_after_in_seconds_is_honoured(make_client, sleeps):
    client, adapter = make_client(
        [answer(429, {"code": "throttled"}, {"Retry-After": "1"}), answer(200, {"ok": True})]
    )
    assert client.get("/items") == {"ok": True}
    assert sleeps == [1.0]
    assert len(adapter.sent) == 2


def test_503_with_retry_after_as_http_date_is_honoured(make_client, sleeps):
    when = formatdate(NOW + 4, usegmt=True)
    client, _ = make_client([answer(503, headers={"Retry-After": when}), answer(200, [1])])
    assert client.get("/items") == [1]
    assert sleeps == [pytest.approx(4.0)]


def test_a_5xx_burst_backs_off_exponentially_then_succeeds(make_client, sleeps):
    client, adapter = make_client(
        [answer(503), answer(502), answer(500), answer(504), answer(200, {"n": 1})],
        backoff_base=0.25,
        jitter=0.0,
    )
    assert client.get("/items") == {"n": 1}
    assert sleeps == [0.25, 0.5, 1.0, 2.0]
    assert len(adapter.sent) == 5


def test_retries_end_after_max_attempts_with_a_retryable_error(make_client, sleeps):
    client, adapter = make_client([answer(503)] * 3, max_attempts=3, jitter=0.0)
    with pytest.raises(RetryableAPIError, match=r"503.*gave up after 3 attempts") as info:
        client.get("/items")
    assert info.value.status == 503 and len(adapter.sent) == 3 and len(sleeps) == 2


def test_a_retry_after_longer_than_allowed_gives_up_at_once(make_client, sleeps):
    client, adapter = make_client([answer(429, headers={"Retry-After": "86400"})])
    with pytest.raises(RetryableAPIError, match="retry after 86400"):
        client.get("/items")
    assert sleeps == [] and len(adapter.sent) == 1


def test_401_fails_fast_with_an_actionable_message(make_client, sleeps):
    client, adapter = make_client([answer(401, {"code": "INVALID_LOGIN"})] * 3)
    with pytest.raises(AuthenticationError) as info:
        client.get("/items")
    assert str(info.value) == (
        "Vendor rejected connection 'vendor_default' (INVALID_LOGIN): check the connection's token"
    )
    assert len(adapter.sent) == 1 and sleeps == []


@pytest.mark.parametrize(
    ("status", "error"),
    [(403, AuthenticationError), (404, NotFoundError), (400, FatalAPIError), (422, FatalAPIError)],
)
def test_other_4xx_fail_fast(make_client, sleeps, status, error):
    client, adapter = make_client([answer(status, {"code": "X", "message": "bad filter"})] * 2)
    with pytest.raises(error) as info:
        client.get("/items")
    assert info.value.status == status and info.value.code == "X"
    assert len(adapter.sent) == 1 and sleeps == []


def test_a_refused_body_is_not_echoed_in_the_message_but_kept_as_detail(make_client):
    refusal = {"code": "INVALID_CONTENT", "message": "Invalid value jane@example.com", "field": "e"}
    client, _ = make_client([answer(400, refusal), answer(400, {"code": "X", "message": "bad q"})])
    with pytest.raises(FatalAPIError) as info:
        client.request("PUT", "/users/eid:U-1", json_body={"email": "jane@example.com"})
    assert str(info.value) == "Vendor PUT /users/eid:U-1 answered 400 INVALID_CONTENT"
    assert info.value.detail == "Invalid value jane@example.com"
    # A request without a body (or a query that opts in) gets the vendor's reason in the message.
    with pytest.raises(FatalAPIError, match="answered 400 X: bad q"):
        client.get("/items")


def test_a_vendor_retry_code_retries_even_with_a_400(make_client, sleeps):
    busy = answer(400, {"code": "CONCURRENCY_LIMIT_EXCEEDED"})
    client, adapter = make_client(
        [busy, busy, answer(204)], retry_codes=frozenset({"CONCURRENCY_LIMIT_EXCEEDED"})
    )
    assert client.request("PUT", "/items/eid:A", json_body={"a": 1}).status == 204
    assert len(adapter.sent) == 3 and len(sleeps) == 2


@pytest.mark.parametrize(
    "failure",
    [
        reset(),
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectTimeout("connect timed out"),
        requests.exceptions.ChunkedEncodingError("IncompleteRead(100 bytes read, 100 more)"),
    ],
)
def test_transport_failures_of_a_read_are_retried(make_client, sleeps, failure):
    client, adapter = make_client([failure, answer(200, {"ok": 1})])
    assert client.get("/items") == {"ok": 1}
    assert len(adapter.sent) == 2 and len(sleeps) == 1


def test_a_garbled_200_is_retried(make_client, sleeps):
    client, _ = make_client([answer(200, b'{"results": [{"id"\x00<html>'), answer(200, [])])
    assert client.get("/items") == []
    assert len(sleeps) == 1


def test_a_non_idempotent_request_is_not_repeated_once_it_may_have_been_processed(
    make_client, sleeps
):
    client, adapter = make_client([reset(), answer(200, {})])
    with pytest.raises(FatalAPIError, match="outcome is unknown"):
        client.request("POST", "/items", json_body={"a": 1})
    assert len(adapter.sent) == 1
    # ...but is repeated when it certainly never reached the server, or was refused unprocessed.
    client, adapter = make_client(
        [refused(), answer(429), answer(500), answer(201, {"id": "9"})], jitter=0.0
    )
    with pytest.raises(FatalAPIError, match="500"):
        client.request("POST", "/items", json_body={"a": 1})
    assert len(adapter.sent) == 3


def test_an_unusable_base_url_is_a_configuration_error():
    client = ApiClient(
        system="Vendor",
        conn_id="vendor_default",
        base_url="htp:/nowhere",
        auth=BearerTokenAuth(TOKEN),
        error_parser=simple_errors,
        policy=RetryPolicy(sleep=lambda s: None),
        timeouts=Timeouts(),
        auth_hint="",
    )
    with pytest.raises(ConfigurationError, match=r"'vendor_default'.*fix the connection's host"):
        client.get("/items")


def test_the_session_is_lazy_and_sends_a_user_agent(make_client):
    client = ApiClient(
        system="Vendor",
        conn_id="c",
        base_url=BASE,
        auth=BearerTokenAuth(TOKEN),
        error_parser=simple_errors,
        policy=RetryPolicy(),
        timeouts=Timeouts(),
        auth_hint="",
    )
    assert client._session is None
    client, adapter = make_client([answer(200, {})])
    client.get("/items")
    assert re.fullmatch(r"ps-sync/\S+ python-requests/\S+", adapter.sent[0].headers["User-Agent"])
    assert adapter.sent[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_record_rejections_turn_400_and_422_into_record_errors_only():
    refusal = FatalAPIError(
        "Vendor PUT /x answered 400",
        system="Vendor",
        status=400,
        code="INVALID_CONTENT",
        detail="Invalid Field Value jane@example.com for the following field: email",
        error_path="email",
    )
    with pytest.raises(RecordRejectedError) as info, record_rejections("customer", "eid:C-1"):
        raise refusal
    error = info.value
    assert (error.code, error.error_path, error.record_key) == (
        "INVALID_CONTENT",
        "email",
        "eid:C-1",
    )
    assert "jane@example.com" in error.detail
    # The message leaves the detail out: vendors echo the refused value in it.
    assert str(error) == "Vendor refused customer eid:C-1 (INVALID_CONTENT at email)"
    auth = AuthenticationError("no", status=401)
    with pytest.raises(AuthenticationError), record_rejections("customer", "eid:C-1"):
        raise auth


# --- logging -------------------------------------------------------------------------------------


def test_logs_name_the_attempt_but_never_secrets_bodies_or_query_values(
    make_client, caplog: pytest.LogCaptureFixture
):
    secret_body = {"email_address": "jane.doe@example.com", "password": "hunter2-secret"}
    client, _ = make_client(
        [
            answer(503, {"code": "busy", "message": "echo jane.doe@example.com"}),
            answer(429, {"code": "throttled"}, {"Retry-After": "2"}),
            answer(400, {"code": "validation", "message": "jane.doe@example.com is taken"}),
        ],
        jitter=0.0,
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FatalAPIError):
        client.request(
            "PUT", "/users/7", params={"q": "email IS jane.doe@example.com"}, json_body=secret_body
        )
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (TOKEN, "hunter2-secret", "jane.doe@example.com", "email IS"):
        assert secret not in text
    messages = [r.getMessage() for r in caplog.records if r.name == "ps_sync.hooks.http"]
    assert messages == [
        "Vendor PUT /users/7 failed: status 503, code busy; attempt 1/6, retrying in 0.50s",
        "Vendor PUT /users/7 failed: status 429, code throttled; attempt 2/6, retrying in 2.00s",
        "Vendor PUT /users/7 failed: status 400, code validation (not retried)",
    ]


def test_auth_strategies_do_not_reveal_their_secrets():
    assert TOKEN not in repr(BearerTokenAuth(TOKEN))
    auth = NetSuiteTBAAuth("1234567_SB1", "ck", "cs-secret", "tid", "ts-secret")
    assert "secret" not in repr(auth).replace("secrets=***", "")


def test_tba_signs_each_request_afresh_with_hmac_sha256_and_the_account_realm():
    auth = NetSuiteTBAAuth("1234567_SB1", "ck", "cs", "tid", "ts")
    headers = []
    for _ in range(2):
        prepared = requests.Request("PUT", f"{BASE}/record/v1/customer/eid:A-1", json={}).prepare()
        header = auth(prepared).headers["Authorization"]
        headers.append(header.decode() if isinstance(header, bytes) else header)
    first, second = (dict(re.findall(r'(\w+)="([^"]*)"', h)) for h in headers)
    assert first["realm"] == "1234567_SB1"
    assert first["oauth_signature_method"] == "HMAC-SHA256"
    assert (first["oauth_consumer_key"], first["oauth_token"]) == ("ck", "tid")
    # NetSuite refuses a replayed nonce: every attempt must be signed again.
    assert first["oauth_nonce"] != second["oauth_nonce"]


# --- pagination ----------------------------------------------------------------------------------


def kantata_page(ids: list[str], page_count: int, count: int) -> dict[str, Any]:
    return {
        "count": count,
        "meta": {"count": count, "page_count": page_count, "page_number": 1, "page_size": 3},
        "results": [{"key": "time_entries", "id": i} for i in ids],
        "time_entries": {i: {"id": i, "notes": f"entry {i}"} for i in reversed(ids)},
        "users": {"1": {"id": "1"}},
    }


def test_kantata_pages_follow_results_order_stop_at_page_count_and_drop_repeats():
    pages = {
        1: kantata_page(["1", "2", "3"], 3, 8),
        # Two records were inserted ahead while paging: page 2 repeats "2" and "3".
        2: kantata_page(["2", "3", "4"], 4, 10),
        3: kantata_page(["5", "6", "7"], 4, 10),
        4: kantata_page(["8"], 4, 10),
        5: kantata_page(["never"], 4, 10),
    }
    asked: list[dict[str, Any]] = []

    def fetch(params: dict[str, Any]) -> Any:
        asked.append(params)
        return pages[params["page"]]

    result = list(KantataPagination(per_page=3).pages(fetch, {"approved": "true"}))
    assert [r["id"] for p in result for r in p.records] == [str(i) for i in range(1, 9)]
    assert [p.duplicates for p in result] == [0, 2, 0, 0]
    assert result[0].records[0] == {"id": "1", "notes": "entry 1"}
    assert asked[0] == {"approved": "true", "page": 1, "per_page": 3}
    assert len(asked) == 4


def test_kantata_pagination_stops_on_an_empty_page_and_refuses_a_broken_envelope():
    empty = {"count": 0, "meta": {"count": 0, "page_count": 0}, "results": [], "time_entries": {}}
    assert [p.records for p in KantataPagination().pages(lambda p: empty, {})] == [[]]
    broken = {"results": [{"key": "time_entries", "id": "1"}], "time_entries": {}}
    with pytest.raises(FatalAPIError, match="points at no object"):
        list(KantataPagination().pages(lambda p: broken, {}))
    with pytest.raises(ValueError, match="per_page"):
        KantataPagination(per_page=500)


def netsuite_page(ids: list[str], offset: int, has_more: bool, total: int) -> dict[str, Any]:
    links = [{"rel": "self", "href": f"https://x/suiteql?limit=2&offset={offset}"}]
    if has_more:
        links.insert(0, {"rel": "next", "href": f"https://x/suiteql?limit=2&offset={offset + 2}"})
    return {
        "links": links,
        "count": len(ids),
        "hasMore": has_more,
        "offset": offset,
        "totalResults": total,
        "items": [{"links": [], "id": i, "name": f"n{i}"} for i in ids],
    }


def test_netsuite_offset_pages_follow_next_strip_links_and_dedupe_by_key():
    pages = {
        0: netsuite_page(["1", "2"], 0, True, 5),
        2: netsuite_page(["2", "3"], 2, True, 6),  # a row inserted ahead shifted the offsets
        4: netsuite_page(["4", "5"], 4, False, 6),
    }
    fetch = lambda params: pages[params["offset"]]  # noqa: E731
    keyed = list(NetSuiteOffsetPagination(limit=2, unique_key="id").pages(fetch, {}))
    assert [r["id"] for p in keyed for r in p.records] == ["1", "2", "3", "4", "5"]
    assert keyed[0].records[0] == {"id": "1", "name": "n1"}
    assert keyed[0].total == 5 and keyed[1].duplicates == 1
    plain = list(NetSuiteOffsetPagination(limit=2).pages(fetch, {}))
    assert [r["id"] for p in plain for r in p.records] == ["1", "2", "2", "3", "4", "5"]


def test_netsuite_pagination_refuses_has_more_on_an_empty_page():
    stuck = {"items": [], "hasMore": True, "links": []}
    with pytest.raises(FatalAPIError, match="hasMore"):
        list(NetSuiteOffsetPagination().pages(lambda p: stuck, {}))


def test_recent_keys_forget_the_oldest_beyond_capacity():
    recent = RecentKeys(2)
    # "a" is forgotten once "b" and "c" came after it; "c" is still remembered.
    seen = [recent.seen(k) for k in ("a", "b", "a", "c", "a", "c")]
    assert seen == [False, False, True, False, False, True]
