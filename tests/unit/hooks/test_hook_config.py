"""The hooks read their connections lazily and explain what to fix when a field is wrong.

Connections come from ``AIRFLOW_CONN_*`` environment variables in Airflow's JSON form, read by
``BaseHook.get_connection`` outside any task. Nothing here opens a socket.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from ps_sync.connections import sandbox_connections
from ps_sync.hooks.erp import NetSuiteHook, account_host, eid, netsuite_error
from ps_sync.hooks.hcm_raas import WorkdayReportReader, workday_error
from ps_sync.hooks.http import ConfigurationError, NetSuiteTBAAuth, VendorError
from ps_sync.hooks.psa import KantataHook, kantata_error, query_value, singular

VENDORS = {
    "psa": {"base_url": "http://127.0.0.1:5001", "credentials": {"token": "psa-token-abcdef"}},
    "erp": {
        "base_url": "http://127.0.0.1:5002/",
        "credentials": {
            "account_id": "1234567_SB1",
            "consumer_key": "ck-123",
            "consumer_secret": "cs-123",
            "token_id": "tid-123",
            "token_secret": "ts-123",
        },
    },
    "crm": {"base_url": "http://127.0.0.1:5003", "credentials": {}},
}


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def test_sandbox_connections_are_airflow_json_connections_the_hooks_accept(monkeypatch):
    env = sandbox_connections(VENDORS)
    assert set(env) == {"AIRFLOW_CONN_PSA_DEFAULT", "AIRFLOW_CONN_ERP_DEFAULT"}
    assert json.loads(env["AIRFLOW_CONN_ERP_DEFAULT"]) == {
        "conn_type": "netsuite",
        "host": "http://127.0.0.1:5002",
        "login": "ck-123",
        "password": "cs-123",
        "extra": {
            "account_id": "1234567_SB1",
            "token_id": "tid-123",
            "token_secret": "ts-123",
            "max_concurrency": 10,
        },
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    psa = KantataHook()
    assert psa.client.base_url == "http://127.0.0.1:5001/api/v1"
    conn = psa.get_connection("psa_default")
    assert (conn.conn_type, conn.password) == ("kantata", "psa-token-abcdef")
    erp = NetSuiteHook()
    assert erp.client.base_url == "http://127.0.0.1:5002/services/rest"
    assert erp.max_concurrency == 10
    auth = erp.client.auth
    assert isinstance(auth, NetSuiteTBAAuth) and auth.account_id == "1234567_SB1"


def test_sandbox_connections_cover_only_the_vendors_served():
    assert set(sandbox_connections({"erp": VENDORS["erp"]})) == {"AIRFLOW_CONN_ERP_DEFAULT"}


HCM = {
    "base_url": "http://127.0.0.1:5004/",
    "credentials": {
        "tenant": "acme",
        "report_owner": "ISU_PSA",
        "username": "ISU_PSA",
        "password": "hcm-pw-123",
    },
}


def test_sandbox_connections_give_the_workday_reader_its_connection(monkeypatch):
    env = sandbox_connections({**VENDORS, "hcm": HCM})
    assert set(env) == {
        "AIRFLOW_CONN_PSA_DEFAULT",
        "AIRFLOW_CONN_ERP_DEFAULT",
        "AIRFLOW_CONN_HCM_DEFAULT",
    }
    assert json.loads(env["AIRFLOW_CONN_HCM_DEFAULT"]) == {
        "conn_type": "workday",
        "host": "http://127.0.0.1:5004",
        "login": "ISU_PSA",
        "password": "hcm-pw-123",
        "extra": {"tenant": "acme", "report_owner": "ISU_PSA"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_HCM_DEFAULT", env["AIRFLOW_CONN_HCM_DEFAULT"])
    reader = WorkdayReportReader()
    assert reader.client.base_url == "http://127.0.0.1:5004"
    assert (reader.client.auth.username, reader.client.conn_id) == ("ISU_PSA", "hcm_default")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"login": "isu", "password": "pw"}, "'hcm_x' has no host: set it to the Workday"),
        ({"host": "h", "login": "isu"}, "'hcm_x' needs login and password"),
        (
            {"host": "h", "login": "isu", "password": "pw", "extra": {"tenant": "acme"}},
            "'hcm_x' has no extra 'report_owner': set it to the user that owns the reports",
        ),
    ],
)
def test_workday_configuration_errors_name_the_connection_and_field(monkeypatch, fields, message):
    set_conn(monkeypatch, "hcm_x", conn_type="workday", **fields)
    with pytest.raises(ConfigurationError, match=message):
        WorkdayReportReader("hcm_x").report("PSA_Workers")
    assert workday_error({"error": "invalid username or password"}).detail == (
        "invalid username or password"
    )
    assert workday_error("<soap:Fault/>") == VendorError()


def test_hook_attributes_bind_them_to_their_connections():
    assert (KantataHook.conn_name_attr, KantataHook.default_conn_name) == (
        "psa_conn_id",
        "psa_default",
    )
    assert (KantataHook.conn_type, KantataHook.hook_name) == ("kantata", "Kantata OX (PSA)")
    assert (NetSuiteHook.conn_name_attr, NetSuiteHook.default_conn_name) == (
        "erp_conn_id",
        "erp_default",
    )
    assert (NetSuiteHook.conn_type, NetSuiteHook.hook_name) == ("netsuite", "NetSuite (ERP)")


def test_constructors_read_nothing(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NOWHERE", raising=False)
    psa, erp = KantataHook("nowhere"), NetSuiteHook("nowhere")
    with pytest.raises(ConfigurationError, match="Connection 'nowhere' is not defined"):
        psa.get_conn()
    with pytest.raises(ConfigurationError, match="AIRFLOW_CONN_NOWHERE"):
        erp.get_conn()


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        ("https://api.mavenlink.com/api/v1", None, "https://api.mavenlink.com/api/v1"),
        ("https://api.mavenlink.com/api/v1/", None, "https://api.mavenlink.com/api/v1"),
        ("https://api.mavenlink.com", None, "https://api.mavenlink.com/api/v1"),
        ("api.mavenlink.com", None, "https://api.mavenlink.com/api/v1"),
        ("http://127.0.0.1", 8123, "http://127.0.0.1:8123/api/v1"),
        ("http://127.0.0.1:8123/api/v1", None, "http://127.0.0.1:8123/api/v1"),
    ],
)
def test_kantata_host_with_or_without_api_v1(monkeypatch, host, port, expected):
    set_conn(monkeypatch, "psa_x", conn_type="kantata", host=host, port=port, password="token-1")
    assert KantataHook("psa_x").client.base_url == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": "token-1"}, "Connection 'psa_x' has no host: set it to the Kantata API"),
        ({"host": "https://api.mavenlink.com"}, "'psa_x' has no password: set it to the Kantata"),
        (
            {"host": "h", "password": "token-1", "extra": {"per_page": 500}},
            "extra 'per_page' must be at most 200",
        ),
        (
            {"host": "h", "password": "token-1", "extra": {"read_timeout": "slow"}},
            "extra 'read_timeout' must be a positive number, got 'slow'",
        ),
        ({"host": "h", "password": "token-1", "extra": "{not json"}, "extra field is not a JSON"),
    ],
)
def test_kantata_configuration_errors_name_the_connection_and_field(monkeypatch, fields, message):
    set_conn(monkeypatch, "psa_x", conn_type="kantata", **fields)
    with pytest.raises(ConfigurationError, match=message):
        KantataHook("psa_x").get_conn()


ERP_EXTRA = {"account_id": "1234567_SB1", "token_id": "t", "token_secret": "s"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"password": "cs", "extra": ERP_EXTRA}, "'erp_x' has no login: set it to the integration"),
        ({"login": "ck", "extra": ERP_EXTRA}, "'erp_x' has no password: set it to the integration"),
        (
            {"login": "ck", "password": "cs", "extra": {**ERP_EXTRA, "token_secret": ""}},
            "'erp_x' has no extra 'token_secret': set it to the access token secret",
        ),
        (
            {"login": "ck", "password": "cs", "extra": {"token_id": "t", "token_secret": "s"}},
            "no extra 'account_id': set it to the NetSuite account id",
        ),
        (
            {"login": "ck", "password": "cs", "extra": {**ERP_EXTRA, "max_concurrency": 2.5}},
            "extra 'max_concurrency' must be a positive integer, got 2.5",
        ),
    ],
)
def test_netsuite_configuration_errors_name_the_connection_and_field(monkeypatch, fields, message):
    set_conn(monkeypatch, "erp_x", conn_type="netsuite", host="http://h", **fields)
    with pytest.raises(ConfigurationError, match=message):
        NetSuiteHook("erp_x").get_conn()


def test_netsuite_host_defaults_to_the_accounts_rest_domain(monkeypatch):
    set_conn(monkeypatch, "erp_x", conn_type="netsuite", login="ck", password="cs", extra=ERP_EXTRA)
    assert NetSuiteHook("erp_x").client.base_url == (
        "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest"
    )
    assert account_host("TSTDRV123") == "https://tstdrv123.suitetalk.api.netsuite.com"
    set_conn(
        monkeypatch,
        "erp_y",
        conn_type="netsuite",
        host="https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/",
        login="ck",
        password="cs",
        extra=ERP_EXTRA,
    )
    assert NetSuiteHook("erp_y").client.base_url.endswith("netsuite.com/services/rest")


def test_kantata_filters_are_encoded_as_kantata_reads_them():
    assert query_value(True) == "true"
    assert query_value(datetime(2026, 10, 1, 7, tzinfo=UTC)) == "2026-10-01T07:00:00+00:00"
    assert query_value(date(2026, 10, 1)) == "2026-10-01"
    assert query_value(["1", 2]) == "1,2"
    with pytest.raises(ValueError, match="timezone-aware"):
        query_value(datetime(2026, 10, 1))
    assert [singular(c) for c in ("time_entries", "workspaces", "stories", "users")] == [
        "time_entry",
        "workspace",
        "story",
        "user",
    ]


def test_kantata_refuses_approved_false_which_it_would_read_as_approved_only(monkeypatch):
    set_conn(monkeypatch, "psa_x", conn_type="kantata", host="h", password="token-1")
    with pytest.raises(ValueError, match="always means approved-only"):
        next(KantataHook("psa_x").iter_records("time_entries", approved=False))


def test_vendor_error_bodies_are_read():
    assert kantata_error(
        {"errors": [{"type": "validation", "field": "time_in_minutes", "message": "blank"}]}
    ) == VendorError("validation", "blank", "time_in_minutes")
    assert kantata_error({"error_message": "Nope"}) == VendorError(None, "Nope", None)
    assert netsuite_error(
        {
            "title": "Bad Request",
            "status": 429,
            "o:errorCode": "USER_ERROR",
            "o:errorDetails": [
                {
                    "detail": "Concurrent request limit exceeded.",
                    "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED",
                }
            ],
        }
    ) == VendorError("CONCURRENCY_LIMIT_EXCEEDED", "Concurrent request limit exceeded.", None)
    assert netsuite_error(["not", "an", "envelope"]) == VendorError()
    assert eid("TE-5001_a") == "eid:TE-5001_a"
