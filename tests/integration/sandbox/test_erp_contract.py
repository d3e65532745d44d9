"""The ERP sandbox answers as NetSuite SuiteTalk REST web services do (reference §2, §5).

Every request is signed by a standard OAuth 1.0a client (``requests_oauthlib``, HMAC-SHA256,
``realm`` = account id), so the sandbox's signature check is proven against a real signer. The
sandbox runs in its own process on its own databases, seeded with the records in
``tests/fixtures/erp/records.json`` plus a run of generated customers for paging.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from requests_oauthlib import OAuth1

from sandbox.erp_oauth import (
    base_string_uri,
    parse_authorization,
    percent_encode,
    signature_base_string,
)
from sandbox.store import RecordRow
from sandbox.testing import SandboxProcess, loaded_sandbox

FIXTURES = Path(__file__).parents[2] / "fixtures" / "erp" / "records.json"
REST = "/services/rest"
RFC2616 = "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html"
# Verbatim from Oracle's error-handling page (reference §2.9).
INVALID_LOGIN = {
    "type": RFC2616,
    "title": "Unauthorized",
    "status": 401,
    "o:errorDetails": [
        {
            "detail": "Invalid login attempt. For more details, see the Login Audit Trail in the "
            "NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.",
            "o:errorCode": "INVALID_LOGIN",
        }
    ],
}
GENERATED_CUSTOMERS = range(2001, 2026)


def concurrency_body(status: int) -> dict[str, Any]:
    """The CONCURRENCY_LIMIT_EXCEEDED body of reference §2.9."""
    return {
        "type": RFC2616,
        "title": "Bad Request",
        "status": status,
        "o:errorCode": "USER_ERROR",
        "o:errorDetails": [
            {
                "detail": "Concurrent request limit exceeded. Request blocked.",
                "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED",
            }
        ],
    }


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _seed_rows() -> list[RecordRow]:
    fixture = json.loads(FIXTURES.read_text())
    rows = [
        RecordRow(
            type=r["type"],
            id=int(r["data"]["id"]),
            data=r["data"],
            external_id=r.get("externalId"),
            updated_at=_stamp(r["data"]["lastModifiedDate"]),
        )
        for r in fixture["records"]
    ]
    for number in GENERATED_CUSTOMERS:
        data = {
            "id": str(number),
            "externalId": f"CUST-{number}",
            "entityId": f"C{number}",
            "companyName": f"Customer {number}",
            "isPerson": False,
            "subsidiary": {"id": "2", "refName": "Acme US"},
            "isInactive": False,
            "lastModifiedDate": "2026-08-01T09:00:00Z",
        }
        rows.append(
            RecordRow(
                "customer",
                number,
                data,
                f"CUST-{number}",
                updated_at=_stamp(data["lastModifiedDate"]),
            )
        )
    return rows


class Erp:
    """A signed client of the sandbox's NetSuite service, plus its admin API."""

    def __init__(self, proc: SandboxProcess) -> None:
        self.proc = proc
        vendor = proc.vendors()["erp"]
        self.base: str = vendor["base_url"]
        self.creds: dict[str, str] = vendor["credentials"]

    def oauth(self, **overrides: Any) -> OAuth1:
        """A standard OAuth 1.0a signer with the sandbox's TBA credentials."""
        c = {**self.creds, **overrides}
        return OAuth1(
            c["consumer_key"],
            c["consumer_secret"],
            c["token_id"],
            c["token_secret"],
            signature_method="HMAC-SHA256",
            realm=c["account_id"],
            **({"timestamp": overrides["timestamp"]} if "timestamp" in overrides else {}),
        )

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A signed request to ``path`` (below the service root)."""
        url = path if path.startswith("http") else self.base + path
        return requests.request(method, url, auth=self.oauth(), timeout=30, **kwargs)

    def suiteql(self, q: str, url: str | None = None, **kwargs: Any) -> requests.Response:
        """A SuiteQL query (``url`` = a ``next`` link to follow)."""
        headers = {"Prefer": "transient", **kwargs.pop("headers", {})}
        return self.call(
            "POST", url or f"{REST}/query/v1/suiteql", json={"q": q}, headers=headers, **kwargs
        )

    def switches(self, **values: Any) -> None:
        """Set switches of the ERP service."""
        self.proc.admin("PATCH", "/switches/erp", json=values)

    def posted(self) -> list[dict[str, Any]]:
        """What clients wrote (admin view)."""
        return self.proc.admin("GET", "/posted/erp")


@pytest.fixture(scope="module")
def erp_sandbox(server_url: str) -> Iterator[SandboxProcess]:
    """One sandbox process serving the ERP service, seeded with the fixture records."""
    with loaded_sandbox(server_url, "erp", _seed_rows()) as proc:
        yield proc


@pytest.fixture
def erp(erp_sandbox: SandboxProcess) -> Erp:
    """The service back in its seeded state, default switches and faults."""
    erp_sandbox.reset()
    return Erp(erp_sandbox)


def _record_id(location: str, base: str, rtype: str) -> int:
    match = re.fullmatch(re.escape(f"{base}{REST}/record/v1/{rtype}/") + r"(\d+)", location)
    assert match, location
    return int(match.group(1))


def _timebill(**fields: Any) -> dict[str, Any]:
    return {
        "tranDate": "2026-10-15",
        "employee": {"id": "42"},
        "customer": {"id": "1301"},
        "hours": "1:30",
        "isBillable": True,
        "rate": 175.0,
        "memo": "Design review",
        **fields,
    }


def _journal(debit: float, credit: float, **fields: Any) -> dict[str, Any]:
    return {
        "subsidiary": {"id": "2"},
        "tranDate": "2026-10-31",
        "memo": "WIP accrual project 301",
        "line": {
            "items": [
                {"account": {"id": "120"}, "debit": debit, "entity": {"id": "1301"}},
                {"account": {"id": "400"}, "credit": credit, "entity": {"id": "1301"}},
            ]
        },
        **fields,
    }


# --- OAuth 1.0a -------------------------------------------------------------------------------


def test_signature_base_string_is_rfc5849_example() -> None:
    """RFC 5849 §3.4.1.1's worked example, rebuilt from the request parts."""
    header = (
        'OAuth realm="Example", oauth_consumer_key="9djdj82h48djs9d2", '
        'oauth_token="kkk9d7dh3k39sjv7", oauth_signature_method="HMAC-SHA1", '
        'oauth_timestamp="137131201", oauth_nonce="7d8f3e4a", '
        'oauth_signature="bYT5CMsGcbgUdFHObYMEfcx6bsw%3D"'
    )
    params = parse_authorization(header)
    pairs = [(k, v) for k, v in params.items() if k not in ("realm", "oauth_signature")]
    pairs += [("b5", "=%3D"), ("a3", "a"), ("c@", ""), ("a2", "r b"), ("c2", ""), ("a3", "2 q")]
    uri = base_string_uri("HTTP", "Example.com:80", "/request")
    assert signature_base_string("post", uri, pairs) == (
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D"
        "%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce"
        "%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26"
        "oauth_token%3Dkkk9d7dh3k39sjv7"
    )
    assert percent_encode("é ~*") == "%C3%A9%20~%2A"
    assert base_string_uri("https", "HOST:8443", "/p") == "https://host:8443/p"


def test_wrong_credentials_get_invalid_login(erp: Erp) -> None:
    url = f"{erp.base}{REST}/record/v1/customer/1201"
    assert requests.get(url, auth=erp.oauth(), timeout=30).status_code == 200
    refused = [
        requests.get(url, auth=erp.oauth(consumer_secret="wrong"), timeout=30),
        requests.get(url, auth=erp.oauth(token_secret="wrong"), timeout=30),
        requests.get(url, auth=erp.oauth(consumer_key="other-key"), timeout=30),
        requests.get(url, auth=erp.oauth(account_id="7654321"), timeout=30),
        requests.get(url, timeout=30),
        requests.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=30),
    ]
    for response in refused:
        assert response.status_code == 401
        assert response.json() == INVALID_LOGIN
        assert "invalid_token" in response.headers["WWW-Authenticate"]
    tampered = requests.Request("GET", url, auth=erp.oauth()).prepare()
    tampered.prepare_url(url + "?fields=email", {})
    assert requests.Session().send(tampered, timeout=30).status_code == 401


def test_replayed_nonce_and_stale_timestamp_are_refused(erp: Erp) -> None:
    url = f"{erp.base}{REST}/record/v1/customer/1201"
    prepared = requests.Request("GET", url, auth=erp.oauth()).prepare()
    session = requests.Session()
    assert session.send(prepared, timeout=30).status_code == 200
    replay = session.send(prepared, timeout=30)
    assert (replay.status_code, replay.json()) == (401, INVALID_LOGIN)

    stale = str(int(time.time()) - 3600)
    response = requests.get(url, auth=erp.oauth(timestamp=stale), timeout=30)
    assert (response.status_code, response.json()) == (401, INVALID_LOGIN)
    erp.switches(oauth_timestamp_window_s=7200)
    assert requests.get(url, auth=erp.oauth(timestamp=stale), timeout=30).status_code == 200


def test_query_and_form_parameters_are_part_of_the_signature(erp: Erp) -> None:
    """Query parameters (with spaces and quotes) and a form body are signed and verified."""
    response = erp.call(
        "GET", f"{REST}/record/v1/customer", params={"q": 'externalId IS "CUST-GLOBEX"'}
    )
    assert response.status_code == 200
    assert [i["id"] for i in response.json()["items"]] == ["1202"]
    # A form-encoded body is in the base string: the signature holds, then the body is refused.
    form = erp.call("POST", f"{REST}/record/v1/customer", data={"companyName": "Form Co"})
    assert form.status_code == 400
    assert form.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_CONTENT"


# --- record API --------------------------------------------------------------------------------


def test_create_answers_204_with_location_and_the_record_reads_back(erp: Erp) -> None:
    body = {"externalId": "SF-0015g00000X1", "companyName": "Umbrella", "subsidiary": {"id": "2"}}
    response = erp.call("POST", f"{REST}/record/v1/customer", json=body)
    assert response.status_code == 204
    assert response.content == b""
    location = response.headers["Location"]
    rid = _record_id(location, erp.base, "customer")
    assert rid > 100_000_000

    record = erp.call("GET", location).json()
    assert record["links"] == [{"rel": "self", "href": location}]
    assert record["id"] == str(rid)
    assert record["externalId"] == "SF-0015g00000X1"
    assert record["subsidiary"] == {
        "links": [{"rel": "self", "href": f"{erp.base}{REST}/record/v1/subsidiary/2"}],
        "id": "2",
        "refName": "Acme US",
    }
    modified = _stamp(record["lastModifiedDate"])
    assert abs((datetime.now(UTC) - modified).total_seconds()) < 60
    by_eid = erp.call("GET", f"{REST}/record/v1/customer/eid:SF-0015g00000X1").json()
    assert by_eid == record

    duplicate = erp.call("POST", f"{REST}/record/v1/customer", json=body)
    assert duplicate.status_code == 400
    detail = duplicate.json()["o:errorDetails"][0]
    assert (detail["o:errorCode"], detail["o:errorPath"]) == ("USER_ERROR", "externalId")
    bad_eid = erp.call("POST", f"{REST}/record/v1/customer", json={"externalId": "no spaces!"})
    assert bad_eid.status_code == 400


def test_missing_records_and_types_are_404(erp: Erp) -> None:
    for path in ("customer/99999", "customer/eid:NOPE", "notARecordType/1"):
        response = erp.call("GET", f"{REST}/record/v1/{path}")
        assert response.status_code == 404
        body = response.json()
        assert (body["title"], body["status"]) == ("Not Found", 404)
        assert body["o:errorDetails"][0]["o:errorCode"] == "NONEXISTENT_ID"


def test_references_must_exist(erp: Erp) -> None:
    response = erp.call(
        "POST", f"{REST}/record/v1/timeBill", json=_timebill(employee={"id": "9999"})
    )
    assert response.status_code == 400
    assert response.json() == {
        "type": RFC2616 + "#sec10.4.1",
        "title": "Bad Request",
        "status": 400,
        "o:errorDetails": [
            {
                "detail": "Error while accessing resource: You have entered an Invalid Field "
                "Value 9999 for the following field: employee",
                "o:errorCode": "INVALID_CONTENT",
                "o:errorPath": "employee",
            }
        ],
    }
    journal = _journal(100, 100)
    journal["line"]["items"][1]["account"] = {"id": "9999"}
    response = erp.call("POST", f"{REST}/record/v1/journalEntry", json=journal)
    assert response.status_code == 400
    assert response.json()["o:errorDetails"][0]["o:errorPath"] == "line.items[1].account"


def test_upsert_by_external_id_twice_keeps_one_record_and_echoes_hours(erp: Erp) -> None:
    path = f"{REST}/record/v1/timeBill/eid:KANTATA-TE-5001"
    first = erp.call("PUT", path, json=_timebill(hours="1:30"))
    assert first.status_code == 204
    rid = _record_id(first.headers["Location"], erp.base, "timeBill")
    created = erp.call("GET", path).json()
    assert created["hours"] == "1:30"
    assert created["customer"]["links"][0]["href"].endswith("/record/v1/job/1301")

    second = erp.call("PUT", path, json=_timebill(hours=2.25, memo="Design review, extended"))
    assert second.status_code == 204
    assert second.headers["Location"] == first.headers["Location"]
    updated = erp.call("GET", path).json()
    assert (updated["id"], updated["hours"], updated["memo"]) == (
        str(rid),
        2.25,
        "Design review, extended",
    )
    assert updated["createdDate"] == created["createdDate"]
    found = erp.suiteql("SELECT id, hours FROM timebill WHERE externalid = 'KANTATA-TE-5001'")
    assert found.json()["items"] == [{"links": [], "id": str(rid), "hours": "2.25"}]

    posted = [w for w in erp.posted() if w["external_id"] == "KANTATA-TE-5001"]
    assert [(w["method"], w["status"], w["record_id"]) for w in posted] == [
        ("PUT", 204, rid),
        ("PUT", 204, rid),
    ]
    assert posted[0]["record_type"] == "timeBill"
    assert posted[0]["body"]["hours"] == "1:30"

    erp.switches(upsert_location_header=False)
    third = erp.call("PUT", path, json=_timebill(hours=1.5))
    assert third.status_code == 204
    assert "Location" not in third.headers
    assert erp.call("GET", path).json()["hours"] == 1.5
    bad = erp.call("PUT", path, json=_timebill(hours="90 minutes"))
    assert bad.status_code == 400
    assert bad.json()["o:errorDetails"][0]["o:errorPath"] == "hours"


def test_patch_and_delete(erp: Erp) -> None:
    path = f"{REST}/record/v1/customer/1202"
    before = erp.call("GET", path).json()
    response = erp.call("PATCH", path, json={"email": "ar@globex.example"})
    assert response.status_code == 204
    after = erp.call("GET", path).json()
    assert after["email"] == "ar@globex.example"
    assert after["companyName"] == before["companyName"]
    assert after["lastModifiedDate"] > before["lastModifiedDate"]

    assert erp.call("DELETE", path).status_code == 204
    assert erp.call("GET", path).status_code == 404
    methods = [(w["method"], w["record_id"], w["status"]) for w in erp.posted()]
    assert methods == [("PATCH", 1202, 204), ("DELETE", 1202, 204)]


def test_collection_paging_envelope(erp: Erp) -> None:
    href = f"{erp.base}{REST}/record/v1/customer"
    page = erp.call("GET", f"{REST}/record/v1/customer", params={"limit": 10}).json()
    total = 3 + len(GENERATED_CUSTOMERS)
    assert (page["count"], page["hasMore"], page["offset"], page["totalResults"]) == (
        10,
        True,
        0,
        total,
    )
    assert page["links"] == [
        {"rel": "next", "href": f"{href}?limit=10&offset=10"},
        {"rel": "last", "href": f"{href}?limit=10&offset=20"},
        {"rel": "self", "href": f"{href}?limit=10&offset=0"},
    ]
    assert page["items"][0] == {
        "links": [{"rel": "self", "href": f"{href}/1201"}],
        "id": "1201",
    }
    seen = [i["id"] for i in page["items"]]
    while page["hasMore"]:
        next_href = next(link["href"] for link in page["links"] if link["rel"] == "next")
        page = erp.call("GET", next_href).json()
        assert page["links"][0]["rel"] == "prev"
        seen += [i["id"] for i in page["items"]]
    assert seen == sorted(seen, key=int)
    assert len(seen) == len(set(seen)) == total

    too_big = erp.call("GET", f"{REST}/record/v1/customer", params={"limit": 1001})
    assert too_big.status_code == 400
    assert too_big.json()["o:errorDetails"][0]["o:errorQueryParam"] == "limit"
    odd = {"limit": 10, "offset": 5}
    assert erp.call("GET", f"{REST}/record/v1/customer", params=odd).status_code == 200
    erp.switches(enforce_offset_divisible=True)
    assert erp.call("GET", f"{REST}/record/v1/customer", params=odd).status_code == 400


def test_collection_q_filters(erp: Erp) -> None:
    def ids(q: str) -> list[str]:
        response = erp.call("GET", f"{REST}/record/v1/customer", params={"q": q})
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert ids('lastModifiedDate ON_OR_AFTER "10/1/2026"') == ["1202", "1203"]
    assert ids('lastModifiedDate AFTER "2026-10-02"') == ["1203"]
    assert ids('email EMPTY AND companyName START_WITH "Init"') == ["1203"]
    assert ids('externalId IS "CUST-ACME" OR externalId IS "CUST-INITECH"') == ["1201", "1203"]
    bad = erp.call("GET", f"{REST}/record/v1/customer", params={"q": "email LOOKS_LIKE x"})
    assert bad.status_code == 400
    assert bad.json()["o:errorDetails"][0]["o:errorQueryParam"] == "q"


def test_sublists_collapse_unless_expanded_and_journals_must_balance(erp: Erp) -> None:
    unbalanced = erp.call("POST", f"{REST}/record/v1/journalEntry", json=_journal(262.5, 200))
    assert unbalanced.status_code == 400
    detail = unbalanced.json()["o:errorDetails"][0]
    assert (detail["o:errorCode"], detail["o:errorPath"]) == ("USER_ERROR", "line")

    created = erp.call(
        "POST", f"{REST}/record/v1/journalEntry", json=_journal(262.5, 262.5, externalId="ACCR-1")
    )
    assert created.status_code == 204
    location = created.headers["Location"]
    collapsed = erp.call("GET", location).json()
    assert collapsed["line"] == {"links": [{"rel": "self", "href": f"{location}/line"}]}
    expanded = erp.call("GET", location, params={"expandSubResources": "true"}).json()
    lines = expanded["line"]
    assert (lines["count"], lines["totalResults"], lines["hasMore"]) == (2, 2, False)
    assert lines["items"][0]["account"]["refName"] == "1210 Unbilled Receivables (WIP)"
    assert lines["items"][1]["credit"] == 262.5
    assert erp.call("GET", f"{location}/line").json()["items"] == lines["items"]


def test_closed_period_refuses_transactions(erp: Erp) -> None:
    closed = {
        "type": RFC2616 + "#sec10.4.1",
        "title": "Bad Request",
        "status": 400,
        "o:errorDetails": [
            {
                "detail": "The accounting period for this transaction date is closed.",
                "o:errorCode": "USER_ERROR",
                "o:errorPath": "tranDate",
            }
        ],
    }
    in_september = erp.call(
        "PUT", f"{REST}/record/v1/timeBill/eid:KANTATA-TE-9", json=_timebill(tranDate="2026-09-15")
    )
    assert (in_september.status_code, in_september.json()) == (400, closed)
    journal = erp.call(
        "POST", f"{REST}/record/v1/journalEntry", json=_journal(10, 10, tranDate="2026-09-30")
    )
    assert journal.status_code == 400
    by_period = erp.call(
        "POST",
        f"{REST}/record/v1/journalEntry",
        json=_journal(10, 10, postingPeriod={"id": "10"}),
    )
    assert by_period.json()["o:errorDetails"][0]["o:errorPath"] == "postingPeriod"
    in_october = erp.call(
        "PUT", f"{REST}/record/v1/timeBill/eid:KANTATA-TE-9", json=_timebill(tranDate="2026-10-01")
    )
    assert in_october.status_code == 204
    refused = [(w["method"], w["status"]) for w in erp.posted()]
    assert refused == [("PUT", 400), ("POST", 400), ("POST", 400), ("PUT", 204)]


# --- SuiteQL -----------------------------------------------------------------------------------


def test_suiteql_pages_with_lowercase_string_values_and_omits_nulls(erp: Erp) -> None:
    q = "SELECT id, entityId, companyName, email, isInactive FROM customer ORDER BY id"
    response = erp.suiteql(q, params={"limit": 2})
    assert response.status_code == 200
    page = response.json()
    total = 3 + len(GENERATED_CUSTOMERS)
    assert (page["count"], page["hasMore"], page["offset"], page["totalResults"]) == (
        2,
        True,
        0,
        total,
    )
    href = f"{erp.base}{REST}/query/v1/suiteql"
    assert page["links"] == [
        {"rel": "next", "href": f"{href}?limit=2&offset=2"},
        {"rel": "last", "href": f"{href}?limit=2&offset=26"},
        {"rel": "self", "href": f"{href}?limit=2&offset=0"},
    ]
    assert page["items"][0] == {
        "links": [],
        "id": "1201",
        "entityid": "ACME",
        "companyname": "Acme Corp",
        "email": "ap@acme.example",
        "isinactive": "F",
    }
    rows = page["items"]
    while page["hasMore"]:
        next_href = next(link["href"] for link in page["links"] if link["rel"] == "next")
        page = erp.suiteql(q, url=next_href).json()
        rows += page["items"]
    assert len(rows) == total
    initech = next(r for r in rows if r["id"] == "1203")
    assert "email" not in initech
    assert initech["isinactive"] == "T"

    erp.switches(suiteql_max_results=5)
    capped = erp.suiteql(q, params={"limit": 5}).json()
    assert (capped["count"], capped["hasMore"], capped["totalResults"]) == (5, False, total)
    beyond = erp.suiteql(q, params={"limit": 5, "offset": 5})
    assert beyond.status_code == 400
    assert beyond.json()["o:errorDetails"][0]["o:errorQueryParam"] == "offset"

    erp.switches(suiteql_values_as_strings=False, suiteql_omit_nulls=False)
    raw = erp.suiteql("SELECT id, email, isinactive FROM customer WHERE id = 1203").json()
    assert raw["items"] == [{"links": [], "id": 1203, "email": None, "isinactive": True}]


def test_suiteql_incremental_by_lastmodifieddate(erp: Erp) -> None:
    q = (
        "SELECT id, externalid, lastmodifieddate, "
        "TO_CHAR(lastmodifieddate, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS modified FROM customer "
        "WHERE lastmodifieddate >= TO_DATE('2026-10-01', 'YYYY-MM-DD') "
        "ORDER BY lastmodifieddate, id"
    )
    items = erp.suiteql(q).json()["items"]
    assert items == [
        {
            "links": [],
            "id": "1202",
            "externalid": "CUST-GLOBEX",
            "lastmodifieddate": "10/2/2026",
            "modified": "2026-10-02T08:30:00",
        },
        {
            "links": [],
            "id": "1203",
            "externalid": "CUST-INITECH",
            "lastmodifieddate": "10/20/2026",
            "modified": "2026-10-20T12:00:00",
        },
    ]
    erp.call("PATCH", f"{REST}/record/v1/customer/1201", json={"email": "ap2@acme.example"})
    params_query = erp.call(
        "POST",
        f"{REST}/query/v1/suiteql",
        json={
            "q": "SELECT id FROM customer WHERE lastmodifieddate >= "
            "TO_TIMESTAMP(?, 'YYYY-MM-DD HH24:MI:SS') "
            "AND (isinactive = 'F' OR externalid LIKE 'CUST-INI%') ORDER BY id DESC",
            "params": ["2026-10-10 00:00:00"],
        },
        headers={"Prefer": "transient"},
    )
    assert [i["id"] for i in params_query.json()["items"]] == ["1203", "1201"]
    erp.switches(suiteql_date_format="iso")
    iso = erp.suiteql("SELECT lastmodifieddate FROM customer WHERE id = 1202").json()
    assert iso["items"] == [{"links": [], "lastmodifieddate": "2026-10-02T08:30:00Z"}]
    period = erp.suiteql("SELECT startdate, closed FROM accountingperiod WHERE id = 10").json()
    assert period["items"] == [{"links": [], "startdate": "2026-09-01", "closed": "T"}]


def test_suiteql_errors_count_and_transaction_table(erp: Erp) -> None:
    bad = erp.suiteql("SELECT id, foo FROM customer")
    assert bad.status_code == 400
    assert bad.json() == {
        "type": RFC2616 + "#sec10.4.1",
        "title": "Invalid search query.",
        "status": 400,
        "o:errorDetails": [
            {"detail": "Search error occurred: Field 'foo' not found.", "o:errorCode": "USER_ERROR"}
        ],
    }
    assert erp.suiteql("SELECT id FROM nosuchtable").json()["title"] == "Invalid search query."
    assert erp.suiteql("DELETE FROM customer").status_code == 400

    count = erp.suiteql("SELECT COUNT(*) AS n FROM customer WHERE isinactive = 'F'").json()
    assert count["items"] == [{"links": [], "n": str(2 + len(GENERATED_CUSTOMERS))}]
    erp.call("POST", f"{REST}/record/v1/journalEntry", json=_journal(5, 5, externalId="J-5"))
    journals = erp.suiteql(
        "SELECT t.id, t.type, t.recordtype, BUILTIN.DF(t.subsidiary) AS sub FROM transaction t "
        "WHERE t.type = 'Journal' AND t.externalid IN ('J-5', 'J-6')"
    ).json()["items"]
    assert len(journals) == 1
    assert journals[0]["type"] == "Journal"
    assert (journals[0]["recordtype"], journals[0]["sub"]) == ("journalentry", "Acme US")


# --- async, idempotency ------------------------------------------------------------------------


def test_async_job_and_idempotency_key(erp: Erp) -> None:
    key = str(uuid.uuid4())
    headers = {"Prefer": "respond-async", "X-NetSuite-Idempotency-Key": key}
    body = {"externalId": "ASYNC-1", "companyName": "Async Ltd", "subsidiary": {"id": "2"}}
    accepted = erp.call("POST", f"{REST}/record/v1/customer", json=body, headers=headers)
    assert accepted.status_code == 202
    assert accepted.headers["Preference-Applied"] == "respond-async"
    job_path = accepted.headers["Location"]
    assert re.fullmatch(rf"{REST}/async/v1/job/\d+", job_path)
    job_url = urljoin(erp.base, job_path)

    job = erp.call("GET", job_url).json()
    assert (job["completed"], job["progress"]) == (True, "succeeded")
    assert job["task"]["links"][0]["href"] == f"{job_url}/task"
    task_href = erp.call("GET", f"{job_url}/task").json()["items"][0]["links"][0]["href"]
    task = erp.call("GET", task_href).json()
    assert task["progress"] == "succeeded"
    assert {link["rel"] for link in task["links"]} == {"related", "self"}
    result = erp.call("GET", f"{task_href}/result")
    assert result.status_code == 204
    rid = _record_id(result.headers["Location"], erp.base, "customer")
    assert erp.call("GET", result.headers["Location"]).json()["companyName"] == "Async Ltd"

    replay = erp.call("POST", f"{REST}/record/v1/customer", json=body, headers=headers)
    assert replay.status_code == 400
    assert replay.headers["Location"] == job_path
    assert replay.json() == {
        "type": RFC2616 + "#sec10.4.10",
        "title": "Conflict",
        "status": 400,
        "o:errorDetails": [
            {
                "detail": "A request with the same idempotency key is already submitted. See the "
                '"Location" header for a link to the previously submitted job',
                "o:errorCode": "IDEMPOTENCY_ERROR",
            }
        ],
    }
    other = {**body, "externalId": "ASYNC-2", "companyName": "Someone Else"}
    different = erp.call("POST", f"{REST}/record/v1/customer", json=other, headers=headers)
    assert different.status_code == 400
    assert different.json()["o:errorDetails"][0]["o:errorCode"] == "IDEMPOTENCY_ERROR"
    assert "Location" not in different.headers
    assert erp.call("GET", f"{REST}/record/v1/customer/eid:ASYNC-2").status_code == 404
    erp.switches(idempotency_conflict_status=409)
    again = erp.call("POST", f"{REST}/record/v1/customer", json=body, headers=headers)
    assert (again.status_code, again.json()["status"]) == (409, 409)

    # Without respond-async the key means nothing: both writes happen.
    sync = {"X-NetSuite-Idempotency-Key": key}
    for number in (3, 4):
        created = erp.call(
            "POST",
            f"{REST}/record/v1/customer",
            json={**body, "externalId": f"ASYNC-{number}"},
            headers=sync,
        )
        assert created.status_code == 204
    posted = [(w["external_id"], w["status"], w["idempotency_key"]) for w in erp.posted()]
    assert posted[:2] == [("ASYNC-1", 204, key), ("ASYNC-1", 400, key)]
    assert [p[0] for p in posted[-2:]] == ["ASYNC-3", "ASYNC-4"]
    assert rid > 100_000_000


def test_async_failure_is_a_failed_job(erp: Erp) -> None:
    accepted = erp.call(
        "POST",
        f"{REST}/record/v1/journalEntry",
        json=_journal(1, 2),
        headers={"Prefer": "respond-async"},
    )
    assert accepted.status_code == 202
    job_url = urljoin(erp.base, accepted.headers["Location"])
    assert erp.call("GET", job_url).json()["progress"] == "failed"
    job_id = job_url.rsplit("/", 1)[1]
    result = erp.call("GET", f"{job_url}/task/{job_id}/result")
    assert result.status_code == 400
    assert result.json()["o:errorDetails"][0]["o:errorPath"] == "line"


# --- limits and faults -------------------------------------------------------------------------


def test_concurrency_limit_blocks_parallel_requests(erp: Erp) -> None:
    limits = erp.call("GET", f"{REST}/system/v1/governanceLimits").json()
    assert limits == {
        "accountConcurrencyLimit": 15,
        "accountUnallocatedConcurrencyLimit": 15,
        "integrationLimitType": "accountLimit",
    }
    erp.switches(concurrency_limit=3, latency_ms=400)
    erp.call("GET", f"{REST}/system/v1/governanceLimits")

    def burst() -> list[requests.Response]:
        with ThreadPoolExecutor(max_workers=10) as pool:
            futures = [
                pool.submit(erp.call, "GET", f"{REST}/record/v1/customer/1201") for _ in range(10)
            ]
            return [f.result() for f in futures]

    responses = burst()
    blocked = [r for r in responses if r.status_code != 200]
    assert 1 <= len(responses) - len(blocked) <= 3
    assert len(blocked) >= 7
    for response in blocked:
        assert (response.status_code, response.json()) == (429, concurrency_body(429))

    erp.switches(concurrency_status=400)
    blocked = [r for r in burst() if r.status_code != 200]
    assert blocked
    assert {r.status_code for r in blocked} == {400}
    assert blocked[0].json() == concurrency_body(400)


def test_drop_after_commit_then_retry_upserts_the_same_record(erp: Erp) -> None:
    erp.proc.admin(
        "POST",
        "/faults/erp",
        json={
            "kind": "drop_after_commit",
            "route": f"{REST}/record/v1/timeBill/eid:*",
            "method": "PUT",
            "times": 1,
        },
    )
    path = f"{REST}/record/v1/timeBill/eid:KANTATA-TE-7001"
    with pytest.raises(requests.exceptions.ConnectionError):
        erp.call("PUT", path, json=_timebill())
    committed = erp.call("GET", path)
    assert committed.status_code == 200
    retry = erp.call("PUT", path, json=_timebill())
    assert retry.status_code == 204
    assert _record_id(retry.headers["Location"], erp.base, "timeBill") == int(
        committed.json()["id"]
    )
    count = erp.suiteql("SELECT COUNT(*) FROM timebill WHERE externalid = 'KANTATA-TE-7001'")
    assert count.json()["items"] == [{"links": [], "expr1": "1"}]
    writes = [w for w in erp.posted() if w["external_id"] == "KANTATA-TE-7001"]
    assert [w["status"] for w in writes] == [204, 204]
    assert writes[0]["record_id"] == writes[1]["record_id"]


def test_injected_errors_use_netsuite_bodies(erp: Erp) -> None:
    for status, rule in (
        (503, {"kind": "status", "status": 503}),
        (401, {"kind": "token_expired"}),
    ):
        erp.proc.admin("POST", "/faults/erp", json={**rule, "route": f"{REST}/*", "times": 1})
        response = erp.call("GET", f"{REST}/record/v1/customer/1201")
        assert response.status_code == status
        if status == 401:
            assert response.json() == INVALID_LOGIN
        else:
            assert response.json()["o:errorDetails"][0]["o:errorCode"] == "UNEXPECTED_ERROR"
    erp.proc.admin("POST", "/faults/erp", json={"kind": "status", "status": 429, "times": 1})
    throttled = erp.call("GET", f"{REST}/record/v1/customer/1201")
    assert (throttled.status_code, throttled.json()) == (429, concurrency_body(429))


@pytest.mark.parametrize("api", ["collection", "suiteql"])
def test_insert_while_paging_shifts_later_offsets(erp: Erp, api: str) -> None:
    if api == "collection":
        route = f"{REST}/record/v1/customer"

        def page(offset: int) -> list[str]:
            params = {"limit": 5, "offset": offset}
            return [i["id"] for i in erp.call("GET", route, params=params).json()["items"]]
    else:
        route = f"{REST}/query/v1/suiteql"

        def page(offset: int) -> list[str]:
            url = f"{erp.base}{route}?limit=5&offset={offset}"
            items = erp.suiteql("SELECT id FROM customer ORDER BY id", url=url).json()["items"]
            return [i["id"] for i in items]

    erp.proc.admin(
        "POST",
        "/faults/erp",
        json={"kind": "insert_while_paging", "route": route, "count": 2, "times": 1},
    )
    first, second = page(0), page(5)
    assert first == ["1201", "1202", "1203", "2001", "2002"]
    assert second[:2] == first[-2:]
    assert page(0)[:3] == ["1199", "1200", "1201"]
