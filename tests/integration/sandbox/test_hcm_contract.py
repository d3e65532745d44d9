"""The HCM sandbox speaks Workday RaaS: Basic auth, ``Report_Entry`` reports, effective dating.

One sandbox process (HCM only) per module, loaded with the three workers, four cost-rate
versions and three assignment versions under ``tests/fixtures/hcm``: Ada's rate changes mid-May
(85.00 until 2024-05-14, 90.00 from 2024-05-15) and she transfers from Consulting to Data on
2024-05-22 (her worker record already shows Data), Ben is terminated on 2024-05-15, Chen is hired
on 2024-06-01 and has no assignment versions (his worker record's fields stand in).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import httpx
import pytest

from sandbox.hcm import REPORTS as REPORT_DEFINITIONS
from sandbox.store import RecordRow
from sandbox.testing import SandboxProcess, loaded_sandbox

FIXTURES = Path(__file__).parents[2] / "fixtures" / "hcm"
USERNAME, PASSWORD = "ISU_PSA", "hcm-sandbox-password"
REPORTS = "/ccx/service/customreport2/acme/ISU_PSA"
AUTH_FAILED = {"error": "invalid username or password"}


def _rows() -> list[RecordRow]:
    workers = json.loads((FIXTURES / "workers.json").read_text())
    rates = json.loads((FIXTURES / "cost_rates.json").read_text())
    assignments = json.loads((FIXTURES / "assignments.json").read_text())
    return [
        *(RecordRow(type="worker", id=n, data=doc) for n, doc in enumerate(workers, 1)),
        *(RecordRow(type="cost_rate", id=100 + n, data=doc) for n, doc in enumerate(rates, 1)),
        *(
            RecordRow(type="assignment", id=200 + n, data=doc)
            for n, doc in enumerate(assignments, 1)
        ),
    ]


@pytest.fixture(scope="module")
def sandbox_hcm(server_url: str):
    with loaded_sandbox(server_url, "hcm", _rows()) as proc:
        yield proc


@pytest.fixture
def hcm(sandbox_hcm: SandboxProcess):
    """``(sandbox, client with the integration user's Basic credentials)``, default switches."""
    sandbox_hcm.reset()
    with httpx.Client(
        base_url=sandbox_hcm.urls["hcm"], auth=(USERNAME, PASSWORD), timeout=30
    ) as client:
        yield sandbox_hcm, client


def _report(client: httpx.Client, name: str, **prompts: str) -> list[dict[str, str]]:
    response = client.get(f"{REPORTS}/{name}", params={"format": "json", **prompts})
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["Report_Entry"]
    assert all(isinstance(v, str) for entry in body["Report_Entry"] for v in entry.values())
    return body["Report_Entry"]


def _by_id(entries: list[dict[str, str]]) -> dict[str, dict[str, str]]:
    return {e["Employee_ID"]: e for e in entries}


def test_basic_auth_opens_the_report_and_wrong_credentials_get_401(hcm):
    proc, client = hcm
    assert len(_report(client, "PSA_Workers", Effective_as_of_Date="2024-05-10")) == 2
    base = proc.urls["hcm"]
    url, params = f"{REPORTS}/PSA_Workers", {"format": "json"}
    tenant_user = httpx.get(
        f"{base}{url}", params=params, auth=(f"{USERNAME}@acme", PASSWORD), timeout=30
    )
    assert tenant_user.status_code == 200
    for response in (
        httpx.get(f"{base}{url}", params=params, auth=(USERNAME, "wrong"), timeout=30),
        httpx.get(f"{base}{url}", params=params, timeout=30),
        client.get("/ccx/service/customreport2/globex/ISU_PSA/PSA_Workers", params=params),
    ):
        assert response.status_code == 401
        assert response.json() == AUTH_FAILED


def test_workers_as_of_two_dates_across_a_rate_change_and_a_termination(hcm):
    _, client = hcm
    before = _by_id(_report(client, "PSA_Workers", Effective_as_of_Date="2024-05-10"))
    after = _by_id(_report(client, "PSA_Workers", Effective_as_of_Date="2024-05-20-07:00"))
    assert set(before) == set(after) == {"21001", "21002"}
    assert before["21001"] == {
        "Employee_ID": "21001",
        "Worker": "Ada Lopez",
        "Work_Email": "ada.lopez@example.com",
        "Worker_Status": "Active",
        "Hire_Date": "2019-03-04",
        "Company": "US01",
        "Cost_Center": "CC-100 Delivery",
        "Department": "Consulting",
        "Job_Profile": "Senior Consultant",
        "Location": "Austin",
        "Time_Zone": "America/Chicago",
        "Manager_ID": "20001",
        "Hourly_Cost_Rate": "85.00",
        "Currency": "USD",
        "Compensation_Plan": "Hourly Plan",
        "Effective_Date": "2023-01-01",
        "Last_Updated": "2024-05-10T12:00:00.000-07:00",
    }
    assert (after["21001"]["Hourly_Cost_Rate"], after["21001"]["Effective_Date"]) == (
        "90.00",
        "2024-05-15",
    )
    assert before["21002"]["Worker_Status"] == "Active"
    assert "Termination_Date" not in before["21002"]
    assert after["21002"]["Worker_Status"] == "Terminated"
    assert after["21002"]["Termination_Date"] == "2024-05-15"
    assert after["21002"]["Hourly_Cost_Rate"] == "82.50"
    on_last_day = _by_id(_report(client, "PSA_Workers", Effective_as_of_Date="2024-05-15"))
    assert on_last_day["21002"]["Worker_Status"] == "Active"
    assert on_last_day["21001"]["Hourly_Cost_Rate"] == "90.00"
    june = _by_id(_report(client, "PSA_Workers", Effective_as_of_Date="2024-06-15"))
    assert set(june) == {"21001", "21002", "21003"}
    assert (june["21003"]["Hourly_Cost_Rate"], june["21003"]["Effective_Date"]) == (
        "70.00",
        "2024-06-01",
    )


def test_workers_show_the_assignment_in_effect_on_the_as_of_date(hcm):
    _, client = hcm
    organisation = ("Company", "Cost_Center", "Department", "Job_Profile", "Manager_ID")
    last_day = _by_id(_report(client, "PSA_Workers", Effective_as_of_Date="2024-05-21"))
    transferred = _by_id(_report(client, "PSA_Workers", Effective_as_of_Date="2024-05-22"))
    assert [last_day["21001"][c] for c in organisation] == [
        "US01",
        "CC-100 Delivery",
        "Consulting",
        "Senior Consultant",
        "20001",
    ]
    assert [transferred["21001"][c] for c in organisation] == [
        "US01",
        "CC-110 Data",
        "Data",
        "Senior Consultant",
        "20002",
    ]
    # One entry per worker whatever their history; the rate is still the one in effect.
    assert len(transferred) == 2
    assert transferred["21001"]["Hourly_Cost_Rate"] == "90.00"
    assert transferred["21001"]["Last_Updated"] == "2024-05-10T12:00:00.000-07:00"
    june = _by_id(_report(client, "PSA_Workers", Effective_as_of_Date="2024-06-15"))
    assert (june["21003"]["Department"], june["21003"]["Job_Profile"]) == ("Data", "Data Engineer")


def test_assignments_report_lists_every_version_with_its_range(hcm):
    proc, client = hcm
    ada = {"Employee_ID": "21001", "Worker": "Ada Lopez", "Work_Email": "ada.lopez@example.com"}
    place = {"Company": "US01", "Location": "Austin", "Time_Zone": "America/Chicago"}
    assert _report(client, "PSA_Worker_Assignments") == [
        {
            **ada,
            "Worker_Status": "Active",
            "Effective_Date": "2019-03-04",
            "End_Date": "2024-05-21",
            **place,
            "Cost_Center": "CC-100 Delivery",
            "Department": "Consulting",
            "Job_Profile": "Senior Consultant",
            "Manager_ID": "20001",
            "Last_Updated": "2019-02-20T09:00:00.000-07:00",
        },
        {
            **ada,
            "Worker_Status": "Active",
            "Effective_Date": "2024-05-22",
            **place,
            "Cost_Center": "CC-110 Data",
            "Department": "Data",
            "Job_Profile": "Senior Consultant",
            "Manager_ID": "20002",
            "Last_Updated": "2024-05-08T09:00:00.000-07:00",
        },
        {
            "Employee_ID": "21002",
            "Worker": "Ben Okafor",
            "Work_Email": "ben.okafor@example.com",
            "Worker_Status": "Terminated",
            "Effective_Date": "2020-06-15",
            "Company": "DE01",
            "Cost_Center": "CC-200 Delivery EMEA",
            "Department": "Consulting",
            "Job_Profile": "Consultant",
            "Location": "Berlin",
            "Time_Zone": "Europe/Berlin",
            "Manager_ID": "20001",
            "Last_Updated": "2020-06-01T08:00:00.000-07:00",
        },
    ]

    def versions(**prompts: str) -> list[tuple[str, str]]:
        entries = _report(client, "PSA_Worker_Assignments", **prompts)
        return [(e["Employee_ID"], e["Effective_Date"]) for e in entries]

    before = [("21001", "2019-03-04"), ("21002", "2020-06-15")]
    after = [("21001", "2024-05-22"), ("21002", "2020-06-15")]
    assert versions(Effective_From="2024-05-01", Effective_Through="2024-05-21") == before
    assert versions(Effective_From="2024-05-22", Effective_Through="2024-06-30") == after
    assert versions(Effective_From="2024-05-21", Effective_Through="2024-05-22") == [
        ("21001", "2019-03-04"),
        ("21001", "2024-05-22"),
        ("21002", "2020-06-15"),
    ]
    assert versions(Effective_as_of_Date="2024-05-22") == after
    assert versions(Updated_From="2024-05-01") == [("21001", "2024-05-22")]
    proc.admin("PATCH", "/switches/hcm", json={"empty_value": ""})
    blank = _report(client, "PSA_Worker_Assignments", Effective_as_of_Date="2024-05-22")
    assert [(e["Employee_ID"], e["End_Date"]) for e in blank] == [("21001", ""), ("21002", "")]
    as_csv = client.get(
        f"{REPORTS}/PSA_Worker_Assignments",
        params={"format": "csv", "Effective_as_of_Date": "2024-05-22"},
    )
    header, *cells = list(csv.reader(io.StringIO(as_csv.text)))
    assert header == list(REPORT_DEFINITIONS["PSA_Worker_Assignments"].columns)
    assert [dict(zip(header, row, strict=True)) for row in cells] == blank


def test_cost_rates_report_lists_every_version_with_its_validity(hcm):
    proc, client = hcm
    # Company and Cost_Center are the assignment's on each rate's Effective_Date: both rates
    # predate Ada's transfer, though her worker record already shows the Data cost center.
    ada = [e for e in _report(client, "PSA_Worker_Cost_Rates") if e["Employee_ID"] == "21001"]
    assert ada == [
        {
            "Employee_ID": "21001",
            "Worker": "Ada Lopez",
            "Work_Email": "ada.lopez@example.com",
            "Company": "US01",
            "Cost_Center": "CC-100 Delivery",
            "Worker_Status": "Active",
            "Effective_Date": "2023-01-01",
            "End_Date": "2024-05-14",
            "Hourly_Cost_Rate": "85.00",
            "Currency": "USD",
            "Compensation_Plan": "Hourly Plan",
            "Last_Updated": "2024-05-10T12:00:00.000-07:00",
        },
        {
            "Employee_ID": "21001",
            "Worker": "Ada Lopez",
            "Work_Email": "ada.lopez@example.com",
            "Company": "US01",
            "Cost_Center": "CC-100 Delivery",
            "Worker_Status": "Active",
            "Effective_Date": "2024-05-15",
            "Hourly_Cost_Rate": "90.00",
            "Currency": "USD",
            "Compensation_Plan": "Hourly Plan",
            "Last_Updated": "2024-05-10T12:00:00.000-07:00",
        },
    ]
    june = _report(
        client, "PSA_Worker_Cost_Rates", Effective_From="2024-06-01", Effective_Through="2024-06-30"
    )
    assert [(e["Employee_ID"], e["Effective_Date"]) for e in june] == [
        ("21001", "2024-05-15"),
        ("21002", "2023-07-01"),
        ("21003", "2024-06-01"),
    ]
    may_first_half = _report(
        client, "PSA_Worker_Cost_Rates", Effective_From="2024-05-01", Effective_Through="2024-05-14"
    )
    assert [(e["Employee_ID"], e["Effective_Date"]) for e in may_first_half] == [
        ("21001", "2023-01-01"),
        ("21002", "2023-07-01"),
    ]
    proc.admin("PATCH", "/switches/hcm", json={"empty_value": ""})
    blank = _report(client, "PSA_Worker_Cost_Rates", Effective_as_of_Date="2024-05-20")
    assert [(e["Employee_ID"], e["End_Date"]) for e in blank] == [("21001", ""), ("21002", "")]


def test_updated_prompts_select_incremental_changes(hcm):
    _, client = hcm
    as_of = {"Effective_as_of_Date": "2024-05-20"}
    since_may = _report(client, "PSA_Workers", Updated_From="2024-05-01", **as_of)
    # Ada's worker record is older, but her rate versions changed on 2024-05-10.
    assert [e["Employee_ID"] for e in since_may] == ["21001", "21002"]
    since_16th = _report(client, "PSA_Workers", Updated_From="2024-05-16T10:00:00-07:00", **as_of)
    assert [(e["Employee_ID"], e["Last_Updated"]) for e in since_16th] == [
        ("21002", "2024-05-16T10:30:00.000-07:00")
    ]
    april = _report(
        client,
        "PSA_Workers",
        Effective_as_of_Date="2024-06-15",
        Updated_From="2024-04-01",
        Updated_Through="2024-04-30",
    )
    assert [e["Employee_ID"] for e in april] == ["21003"]
    # Only Ben's assignment changed in 2020; he is listed with his latest change.
    assignment_changed = _report(
        client,
        "PSA_Workers",
        Updated_From="2020-01-01",
        Updated_Through="2020-12-31",
        **as_of,
    )
    assert [(e["Employee_ID"], e["Last_Updated"]) for e in assignment_changed] == [
        ("21002", "2024-05-16T10:30:00.000-07:00")
    ]
    rates = _report(client, "PSA_Worker_Cost_Rates", Updated_From="2024-05-01")
    assert [(e["Employee_ID"], e["Effective_Date"]) for e in rates] == [
        ("21001", "2023-01-01"),
        ("21001", "2024-05-15"),
    ]


def test_unknown_reports_owners_prompts_and_values_are_refused(hcm):
    _, client = hcm
    unknown = client.get(f"{REPORTS}/PSA_Nothing", params={"format": "json"})
    assert unknown.status_code == 404
    assert "PSA_Nothing" in unknown.json()["error"]
    other_owner = client.get(
        "/ccx/service/customreport2/acme/lmcneil/PSA_Workers", params={"format": "json"}
    )
    assert other_owner.status_code == 404
    typo = client.get(f"{REPORTS}/PSA_Workers", params={"format": "json", "Updated_from": "x"})
    assert typo.status_code == 400
    assert typo.json() == {"error": "Invalid prompt 'Updated_from' for report 'PSA_Workers'"}
    bad_date = client.get(
        f"{REPORTS}/PSA_Workers", params={"format": "json", "Effective_as_of_Date": "2024-13-01"}
    )
    assert bad_date.status_code == 400
    assert "Effective_as_of_Date" in bad_date.json()["error"]


def test_csv_and_xml_carry_the_same_entries(hcm):
    _, client = hcm
    prompts = {"Effective_as_of_Date": "2024-05-20"}
    entries = _report(client, "PSA_Workers", **prompts)
    as_csv = client.get(f"{REPORTS}/PSA_Workers", params={"format": "csv", **prompts})
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    header, *cells = list(csv.reader(io.StringIO(as_csv.text)))
    assert header == list(REPORT_DEFINITIONS["PSA_Workers"].columns)
    assert [{k: v for k, v in zip(header, row, strict=True) if v} for row in cells] == entries
    as_xml = client.get(f"{REPORTS}/PSA_Workers", params=prompts)
    assert as_xml.status_code == 200
    root = ET.fromstring(as_xml.content)
    namespace = "{urn:com.workday.report/PSA_Workers}"
    assert root.tag == f"{namespace}Report_Data"
    xml_entries = [
        {child.tag.removeprefix(namespace): child.text for child in entry}
        for entry in root.findall(f"{namespace}Report_Entry")
    ]
    assert xml_entries == entries


def test_switches_for_dates_with_offset_and_soap_errors(hcm):
    proc, client = hcm
    proc.admin(
        "PATCH",
        "/switches/hcm",
        json={"date_with_offset": True, "tenant_utc_offset": "-07:00", "error_format": "soap"},
    )
    after = _by_id(_report(client, "PSA_Workers", Effective_as_of_Date="2024-05-20"))
    assert after["21002"]["Termination_Date"] == "2024-05-15-07:00"
    assert after["21001"]["Effective_Date"] == "2024-05-15-07:00"
    assert after["21001"]["Last_Updated"] == "2024-05-10T12:00:00.000-07:00"
    refused = client.get(f"{REPORTS}/PSA_Workers", auth=(USERNAME, "wrong"))
    assert refused.status_code == 401
    fault = ET.fromstring(refused.content).find(".//faultstring")
    assert fault is not None
    assert fault.text == "invalid username or password"


def test_injected_faults_answer_workday_like_bodies(hcm):
    proc, client = hcm
    url, params = f"{REPORTS}/PSA_Workers", {"format": "json"}
    proc.admin("POST", "/faults/hcm", json={"kind": "status", "status": 503, "times": 1})
    maintenance = client.get(url, params=params)
    assert maintenance.status_code == 503
    assert maintenance.headers["content-type"].startswith("text/html")
    proc.admin("POST", "/faults/hcm", json={"kind": "status", "status": 429, "times": 1})
    throttled = client.get(url, params=params)
    assert throttled.status_code == 429
    assert set(throttled.json()) == {"error"}
    proc.admin("POST", "/faults/hcm", json={"kind": "token_expired", "times": 1})
    expired = client.get(url, params=params)
    assert expired.status_code == 401
    assert expired.json() == AUTH_FAILED
    assert client.get(url, params=params).status_code == 200
