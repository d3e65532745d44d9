"""The CRM sandbox speaks Salesforce REST: OAuth, SOQL with query locators, errors and limits.

One sandbox process (CRM only) per module, loaded with the records under ``tests/fixtures/crm``
plus 450 generated "Bulk" opportunities for paging; every test starts from that seeded state
(``reset``) and talks to the service over real HTTP only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.crm import SCHEMA
from sandbox.soql import to_id18
from sandbox.store import RecordRow
from sandbox.testing import SandboxProcess, loaded_sandbox

FIXTURES = Path(__file__).parents[2] / "fixtures" / "crm"
API = "/services/data/v59.0"
CLIENT_ID, CLIENT_SECRET = "crm-client-id", "crm-client-secret"
BULK = 450
INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
LIMIT_EXCEEDED = [
    {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
]
SF_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _bulk_opportunities() -> list[dict[str, Any]]:
    """450 open opportunities of practice "Bulk", one minute apart."""
    start = datetime(2024, 3, 1, tzinfo=UTC)
    docs = []
    for n in range(1, BULK + 1):
        stamp = (start + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        docs.append(
            {
                "Id": to_id18(f"006Sb{1000 + n:010d}"),
                "Name": f"Bulk Deal {n:04d}",
                "AccountId": to_id18("001Sb0000000001"),
                "StageName": ("Prospecting", "Qualification", "Closed Won")[n % 3],
                "CloseDate": "2024-09-30",
                "Amount": 1000 + n,
                "CurrencyIsoCode": "USD",
                "Practice__c": "Bulk",
                "IsDeleted": False,
                "CreatedDate": stamp,
                "LastModifiedDate": stamp,
                "SystemModstamp": stamp,
            }
        )
    return docs


def _rows() -> list[RecordRow]:
    accounts = json.loads((FIXTURES / "accounts.json").read_text())
    opportunities = json.loads((FIXTURES / "opportunities.json").read_text())
    rows = []
    for rtype, docs, first_id in (
        ("Account", accounts, 1),
        ("Opportunity", opportunities, 101),
        ("Opportunity", _bulk_opportunities(), 1001),
    ):
        for offset, doc in enumerate(docs):
            rows.append(
                RecordRow(
                    type=rtype,
                    id=first_id + offset,
                    data=doc,
                    created_at=_stamp(doc["CreatedDate"]),
                    updated_at=_stamp(doc["LastModifiedDate"]),
                )
            )
    return rows


@pytest.fixture(scope="module")
def sandbox_crm(server_url: str):
    with loaded_sandbox(server_url, "crm", _rows()) as proc:
        yield proc


@pytest.fixture
def crm(sandbox_crm: SandboxProcess):
    """The sandbox back in its loaded state (records, no faults, default switches)."""
    sandbox_crm.reset()
    with httpx.Client(base_url=sandbox_crm.urls["crm"], timeout=30) as client:
        yield sandbox_crm, client


def _token(client: httpx.Client) -> str:
    response = client.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


@pytest.fixture
def sf(crm):
    """``(sandbox, client with a bearer token)``."""
    proc, client = crm
    client.headers["Authorization"] = f"Bearer {_token(client)}"
    return proc, client


def _query(client: httpx.Client, soql: str, endpoint: str = "query", **headers: str) -> Any:
    response = client.get(f"{API}/{endpoint}", params={"q": soql}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _usage(response: httpx.Response) -> tuple[int, int]:
    match = re.fullmatch(r"api-usage=(\d+)/(\d+)", response.headers["Sforce-Limit-Info"])
    assert match, response.headers.get("Sforce-Limit-Info")
    return int(match[1]), int(match[2])


# --- OAuth ------------------------------------------------------------------------------------


def test_client_credentials_with_http_basic_returns_a_salesforce_token_response(crm):
    proc, client = crm
    response = client.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={
            "Authorization": "Basic "
            + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
        "scope",
    }
    assert body["instance_url"] == proc.urls["crm"]
    assert body["token_type"] == "Bearer"
    assert body["access_token"].startswith("00D")
    assert re.fullmatch(r"\d{13}", body["issued_at"])
    assert re.fullmatch(rf"{re.escape(proc.urls['crm'])}/id/00D\w{{15}}/005\w{{15}}", body["id"])
    expected = hmac.new(
        CLIENT_SECRET.encode(), (body["id"] + body["issued_at"]).encode(), hashlib.sha256
    ).digest()
    assert base64.b64decode(body["signature"]) == expected


def test_client_credentials_as_form_fields_work_too(crm):
    _, client = crm
    response = client.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    query = client.get(
        f"{API}/query",
        params={"q": "SELECT COUNT() FROM Account"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert query.status_code == 200
    assert query.json() == {"totalSize": 2, "done": True, "records": []}


def test_bad_client_credentials_get_oauth_errors(crm):
    _, client = crm
    wrong_secret = client.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, "nope"),
    )
    assert wrong_secret.status_code == 400
    assert wrong_secret.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }
    unknown_client = client.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    assert unknown_client.status_code == 400
    assert unknown_client.json()["error"] == "invalid_client_id"
    wrong_grant = client.post(
        "/services/oauth2/token", data={"grant_type": "password"}, auth=(CLIENT_ID, CLIENT_SECRET)
    )
    assert wrong_grant.status_code == 400
    assert wrong_grant.json()["error"] == "unsupported_grant_type"


def test_api_calls_without_a_valid_session_get_invalid_session_id(crm):
    _, client = crm
    missing = client.get(f"{API}/query", params={"q": "SELECT Id FROM Account"})
    unknown = client.get(
        f"{API}/query",
        params={"q": "SELECT Id FROM Account"},
        headers={"Authorization": "Bearer 00Dnot-a-token"},
    )
    for response in (missing, unknown):
        assert response.status_code == 401
        assert response.json() == INVALID_SESSION


def test_tokens_expire_after_token_ttl(crm):
    proc, client = crm
    token = _token(client)
    headers = {"Authorization": f"Bearer {token}"}
    url, params = f"{API}/sobjects/Account/{to_id18('001Sb0000000001')}", {"fields": "Name"}
    assert client.get(url, params=params, headers=headers).status_code == 200
    proc.admin("PATCH", "/switches/crm", json={"token_ttl_s": 0})
    expired = client.get(url, params=params, headers=headers)
    assert expired.status_code == 401
    assert expired.json() == INVALID_SESSION
    fresh = {"Authorization": f"Bearer {_token(client)}"}
    assert client.get(url, params=params, headers=fresh).status_code == 401
    proc.admin("PATCH", "/switches/crm", json={"token_ttl_s": 7200})
    assert client.get(url, params=params, headers=fresh).json()["Name"] == "Acme Corp"


# --- SOQL -------------------------------------------------------------------------------------


def test_select_where_order_answers_salesforce_records_with_derived_iswon_isclosed(sf):
    _, client = sf
    body = _query(
        client,
        "SELECT Id, Name, StageName, IsWon, IsClosed, Amount, CloseDate, LastModifiedDate "
        "FROM Opportunity WHERE Practice__c = 'Consulting' ORDER BY Name",
    )
    assert body["totalSize"] == 4
    assert body["done"] is True
    assert "nextRecordsUrl" not in body
    first = body["records"][0]
    opportunity_id = to_id18("006Sb0000000002")
    assert first == {
        "attributes": {
            "type": "Opportunity",
            "url": f"{API}/sobjects/Opportunity/{opportunity_id}",
        },
        "Id": opportunity_id,
        "Name": "Acme — Data Platform",
        "StageName": "Closed Lost",
        "IsWon": False,
        "IsClosed": True,
        "Amount": 80000.0,
        "CloseDate": "2024-04-18",
        "LastModifiedDate": "2024-04-20T08:30:00.000+0000",
    }
    assert [(r["Name"], r["IsWon"], r["IsClosed"]) for r in body["records"]] == [
        ("Acme — Data Platform", False, True),
        ("Acme — Website Redesign", True, True),
        ("Globex — ERP Migration", True, True),
        ("Globex — Support Retainer", False, False),
    ]
    assert all(SF_DATETIME.match(r["LastModifiedDate"]) for r in body["records"])


def test_iswon_and_isclosed_filter_and_sort(sf):
    _, client = sf
    won = _query(
        client,
        "select Name from opportunity where IsWon = true and Practice__c = 'Consulting' "
        "order by Amount desc",
    )
    assert [r["Name"] for r in won["records"]] == [
        "Globex — ERP Migration",
        "Acme — Website Redesign",
    ]
    still_open = _query(
        client, "SELECT Name FROM Opportunity WHERE IsClosed = false AND Practice__c != 'Bulk'"
    )
    assert [r["Name"] for r in still_open["records"]] == ["Globex — Support Retainer"]


def test_datetime_literal_filters_on_lastmodifieddate(sf):
    _, client = sf
    after_may = _query(
        client,
        "SELECT Name, LastModifiedDate FROM Opportunity "
        "WHERE LastModifiedDate > 2024-05-01T00:00:00Z ORDER BY LastModifiedDate",
    )
    # The ERP migration changed one second before the watermark; the deleted audit is hidden.
    assert [r["Name"] for r in after_may["records"]] == [
        "Globex — Support Retainer",
        "Acme — Website Redesign",
    ]
    with_offset = _query(
        client,
        "SELECT Name FROM Opportunity WHERE LastModifiedDate >= 2024-05-01T01:59:59+02:00 "
        "AND Practice__c = 'Consulting' ORDER BY LastModifiedDate DESC",
    )
    assert [r["Name"] for r in with_offset["records"]] == [
        "Acme — Website Redesign",
        "Globex — Support Retainer",
        "Globex — ERP Migration",
    ]


def test_datetime_style_switch_changes_how_datetimes_are_answered(sf):
    proc, client = sf
    soql = "SELECT CreatedDate FROM Account WHERE Name = 'Acme Corp'"
    assert _query(client, soql)["records"][0]["CreatedDate"] == "2023-01-10T08:00:00.000+0000"
    proc.admin("PATCH", "/switches/crm", json={"datetime_style": "iso_z"})
    assert _query(client, soql)["records"][0]["CreatedDate"] == "2023-01-10T08:00:00.000Z"


def test_dates_in_like_or_not_and_case_insensitive_strings(sf):
    _, client = sf
    body = _query(
        client,
        "SELECT Name FROM Opportunity WHERE CloseDate >= 2024-04-30 AND CloseDate < 2024-09-01 "
        "AND (StageName IN ('closed won', 'Closed Lost') OR Name LIKE 'globex%') ORDER BY Name",
    )
    assert [r["Name"] for r in body["records"]] == [
        "Acme — Website Redesign",
        "Globex — ERP Migration",
        "Globex — Support Retainer",
    ]
    negated = _query(
        client,
        "SELECT Name FROM Opportunity WHERE Practice__c = 'Consulting' "
        "AND (NOT Billing_Model__c = 'Fixed Fee') AND StageName NOT IN ('Closed Lost') LIMIT 5",
    )
    assert [r["Name"] for r in negated["records"]] == ["Acme — Website Redesign"]


def test_parent_relationship_fields_are_nested_records(sf):
    _, client = sf
    body = _query(
        client,
        "SELECT Name, Account.Name, Account.Parent.Name FROM Opportunity "
        "WHERE Account.BillingCountry = 'DE' ORDER BY Name LIMIT 1",
    )
    account_id = to_id18("001Sb0000000002")
    assert body["records"] == [
        {
            "attributes": {
                "type": "Opportunity",
                "url": f"{API}/sobjects/Opportunity/{to_id18('006Sb0000000004')}",
            },
            "Name": "Globex — ERP Migration",
            "Account": {
                "attributes": {"type": "Account", "url": f"{API}/sobjects/Account/{account_id}"},
                "Name": "Globex GmbH",
                "Parent": {
                    "attributes": {
                        "type": "Account",
                        "url": f"{API}/sobjects/Account/{to_id18('001Sb0000000001')}",
                    },
                    "Name": "Acme Corp",
                },
            },
        }
    ]


def test_count_queries(sf):
    _, client = sf
    assert _query(client, "SELECT COUNT() FROM Opportunity WHERE Practice__c = 'Bulk'") == {
        "totalSize": BULK,
        "done": True,
        "records": [],
    }
    aggregate = _query(client, "SELECT COUNT(Id) total FROM Opportunity WHERE IsWon = true")
    assert aggregate["records"] == [
        {"attributes": {"type": "AggregateResult"}, "total": BULK // 3 + 2}
    ]


def test_paging_follows_next_records_url_in_batches_of_200(sf):
    _, client = sf
    soql = "SELECT Id, Name FROM Opportunity WHERE Practice__c = 'Bulk' ORDER BY Name"
    page = _query(client, soql, **{"Sforce-Query-Options": "batchSize=200"})
    names, sizes = [], []
    while True:
        assert page["totalSize"] == BULK
        sizes.append(len(page["records"]))
        names += [r["Name"] for r in page["records"]]
        if page["done"]:
            assert "nextRecordsUrl" not in page
            break
        assert re.fullmatch(
            rf"{API}/query/01g[A-Za-z0-9]{{15}}-{len(names)}", page["nextRecordsUrl"]
        )
        response = client.get(page["nextRecordsUrl"])
        assert response.status_code == 200
        page = response.json()
    assert sizes == [200, 200, 50]
    assert names == [f"Bulk Deal {n:04d}" for n in range(1, BULK + 1)]
    whole = _query(client, soql)
    assert whole["done"] is True
    assert len(whole["records"]) == BULK


def test_batch_size_below_the_minimum_is_raised_to_200(sf):
    _, client = sf
    page = _query(
        client,
        "SELECT Id FROM Opportunity WHERE Practice__c = 'Bulk'",
        **{"Sforce-Query-Options": "batchSize=50"},
    )
    assert len(page["records"]) == 200
    assert page["nextRecordsUrl"].endswith("-200")


def test_unknown_query_locator_is_invalid(sf):
    _, client = sf
    response = client.get(f"{API}/query/01gAAAAAAAAAAAAAAA-200")
    assert response.status_code == 400
    assert response.json() == [
        {"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}
    ]


def test_query_locator_is_a_snapshot_when_records_are_inserted_while_paging(sf):
    proc, client = sf
    proc.admin(
        "POST",
        "/faults/crm",
        json={"kind": "insert_while_paging", "route": "*/query", "times": 1, "count": 3},
    )
    soql = (
        "SELECT Id, Name, LastModifiedDate FROM Opportunity WHERE Practice__c = 'Bulk' "
        "AND LastModifiedDate > 2024-03-01T00:00:00Z ORDER BY LastModifiedDate"
    )
    page = _query(client, soql, **{"Sforce-Query-Options": "batchSize=200"})
    ids = [r["Id"] for r in page["records"]]
    while not page["done"]:
        page = client.get(page["nextRecordsUrl"]).json()
        assert page["totalSize"] == BULK
        ids += [r["Id"] for r in page["records"]]
    assert len(ids) == len(set(ids)) == BULK
    again = _query(client, soql)
    assert again["totalSize"] == BULK + 3
    inserted = again["records"][-3:]
    assert [r["Name"] for r in inserted] == [
        f"Bulk Deal 0001 (inserted while paging {n})" for n in (1, 2, 3)
    ]
    assert not {r["Id"] for r in inserted} & set(ids)
    newest = datetime.strptime(inserted[0]["LastModifiedDate"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert datetime.now(UTC) - newest < timedelta(minutes=5)


# --- errors and limits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("soql", "code", "text"),
    [
        ("SELECT Id FORM Opportunity", "MALFORMED_QUERY", "unexpected token: 'FORM'"),
        (
            "SELECT Id FROM Opportunity WHERE Name = 'a' AND Name = 'b' OR Name = 'c'",
            "MALFORMED_QUERY",
            "unexpected token: 'OR'",
        ),
        ("SELECT Id, Colour__c FROM Opportunity", "INVALID_FIELD", "No such column 'Colour__c'"),
        ("SELECT Id FROM Contract", "INVALID_TYPE", "sObject type 'Contract' is not supported"),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate = '2024-01-01'",
            "INVALID_FIELD",
            "must be of type date and should not be enclosed in quotes",
        ),
    ],
)
def test_bad_soql_gets_salesforce_error_arrays(sf, soql, code, text):
    _, client = sf
    response = client.get(f"{API}/query", params={"q": soql})
    assert response.status_code == 400
    body = response.json()
    assert isinstance(body, list)
    assert len(body) == 1
    assert set(body[0]) == {"message", "errorCode"}
    assert body[0]["errorCode"] == code
    assert text in body[0]["message"]
    assert "\nERROR at Row:1:Column:" in body[0]["message"]


def test_missing_query_string_is_malformed(sf):
    _, client = sf
    response = client.get(f"{API}/query")
    assert response.status_code == 400
    assert response.json() == [
        {"message": "A query string has to be specified", "errorCode": "MALFORMED_QUERY"}
    ]


def test_every_call_reports_api_usage_and_is_refused_with_403_over_the_limit(sf):
    proc, client = sf
    first = client.get(f"{API}/query", params={"q": "SELECT Id FROM Account"})
    used, limit = _usage(first)
    assert limit == 100_000
    second = client.get(f"{API}/query", params={"q": "SELECT Id FRM Account"})
    assert second.status_code == 400
    assert _usage(second) == (used + 1, limit)
    proc.admin("PATCH", "/switches/crm", json={"daily_api_limit": used + 2})
    assert client.get(f"{API}/query", params={"q": "SELECT Id FROM Account"}).status_code == 200
    refused = client.get(f"{API}/query", params={"q": "SELECT Id FROM Account"})
    assert refused.status_code == 403
    assert refused.json() == LIMIT_EXCEEDED
    assert _usage(refused) == (used + 2, used + 2)


def test_query_all_includes_deleted_rows_and_query_does_not(sf):
    _, client = sf
    soql = "SELECT Name, IsDeleted FROM Opportunity WHERE Name LIKE 'Initech%'"
    assert _query(client, soql)["records"] == []
    deleted = _query(client, soql, endpoint="queryAll")
    assert [(r["Name"], r["IsDeleted"]) for r in deleted["records"]] == [
        ("Initech — Cancelled Audit", True)
    ]
    accounts = _query(client, "SELECT COUNT() FROM Account", endpoint="queryAll")
    assert accounts["totalSize"] == 3


def test_injected_faults_answer_salesforce_bodies(sf):
    proc, client = sf
    url, params = f"{API}/query", {"q": "SELECT Id FROM Account"}
    proc.admin("POST", "/faults/crm", json={"kind": "status", "status": 403, "times": 1})
    throttled = client.get(url, params=params)
    assert throttled.status_code == 403
    assert throttled.json() == LIMIT_EXCEEDED
    assert client.get(url, params=params).status_code == 200
    proc.admin("POST", "/faults/crm", json={"kind": "status", "status": 503, "times": 1})
    unavailable = client.get(url, params=params)
    assert unavailable.status_code == 503
    assert unavailable.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    proc.admin("POST", "/faults/crm", json={"kind": "token_expired", "times": 1})
    expired = client.get(url, params=params)
    assert expired.status_code == 401
    assert expired.json() == INVALID_SESSION
    proc.admin("POST", "/faults/crm", json={"kind": "concurrency_cap", "limit": 0, "times": 1})
    busy = client.get(url, params=params)
    assert busy.status_code == 403
    assert busy.json() == [
        {
            "message": "ConcurrentPerOrgLongTxn Limit exceeded.",
            "errorCode": "REQUEST_LIMIT_EXCEEDED",
        }
    ]


# --- sObjects -------------------------------------------------------------------------------


def test_sobject_read_answers_every_field_and_404s(sf):
    _, client = sf
    opportunity_id = to_id18("006Sb0000000001")
    response = client.get(f"{API}/sobjects/Opportunity/{opportunity_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["attributes"] == {
        "type": "Opportunity",
        "url": f"{API}/sobjects/Opportunity/{opportunity_id}",
    }
    assert body["Name"] == "Acme — Website Redesign"
    assert (body["IsWon"], body["IsClosed"]) == (True, True)
    assert body["SystemModstamp"] == "2024-05-10T17:22:03.000+0000"
    assert list(body) == ["attributes", *(f.name for f in SCHEMA["Opportunity"].fields)]
    short = client.get(f"{API}/sobjects/Opportunity/{opportunity_id[:15]}")
    assert short.json()["Id"] == opportunity_id
    missing = client.get(f"{API}/sobjects/Opportunity/{to_id18('006Sb0000099999')}")
    assert missing.status_code == 404
    assert missing.json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    deleted = client.get(f"{API}/sobjects/Opportunity/{to_id18('006Sb0000000005')}")
    assert deleted.status_code == 404
    assert deleted.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_patch_updates_fields_bumps_modstamps_and_is_logged(sf):
    proc, client = sf
    opportunity_id = to_id18("006Sb0000000003")
    url = f"{API}/sobjects/Opportunity/{opportunity_id}"
    response = client.patch(url, json={"StageName": "Closed Won", "Amount": 45000})
    assert response.status_code == 204
    assert response.content == b""
    body = client.get(url, params={"fields": "StageName,IsWon,IsClosed,Amount,LastModifiedDate"})
    record = body.json()
    assert (record["StageName"], record["IsWon"], record["IsClosed"]) == ("Closed Won", True, True)
    assert record["Amount"] == 45000.0
    modified = datetime.strptime(record["LastModifiedDate"], "%Y-%m-%dT%H:%M:%S.%f%z")
    assert datetime.now(UTC) - modified < timedelta(minutes=5)
    watermark = _query(
        client,
        "SELECT Name FROM Opportunity WHERE LastModifiedDate > 2024-06-01T00:00:00Z",
    )
    assert [r["Name"] for r in watermark["records"]] == ["Globex — Support Retainer"]
    refused = client.patch(url, json={"IsWon": False})
    assert refused.status_code == 400
    assert refused.json()[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert refused.json()[0]["fields"] == ["IsWon"]
    bad_date = client.patch(url, json={"CloseDate": "30/06/2024"})
    assert bad_date.status_code == 400
    assert bad_date.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    posted = proc.admin("GET", "/posted/crm")
    assert [(p["method"], p["status"], p["record_type"]) for p in posted] == [
        ("PATCH", 204, "Opportunity"),
        ("PATCH", 400, "Opportunity"),
        ("PATCH", 400, "Opportunity"),
    ]
    assert posted[0]["body"] == {"StageName": "Closed Won", "Amount": 45000}
