"""The seeded firm as the four vendor APIs serve it, checked against the defect manifest.

The generator's own tests check the manifest against the stored records; these check that what
a connector actually receives over HTTP (auth, filters, envelopes) carries every planted defect,
cross-checking systems the way ps-sync's rules will: a PSA time entry against the worker's HCM
record, a work date against the ERP's closed period.
"""

from __future__ import annotations

import collections
from typing import Any

import httpx
import pytest
import requests
from requests_oauthlib import OAuth1

TE_FILTERS = {"from_archived_workspaces": "true", "per_page": 200}


@pytest.fixture(scope="module")
def firm(sandbox_session) -> dict[str, Any]:
    sandbox_session.reset()
    vendors = sandbox_session.vendors()
    manifest = sandbox_session.admin("GET", "/manifest")
    return {
        "vendors": vendors,
        "manifest": manifest,
        "info": sandbox_session.admin("GET", "/seed-info"),
    }


def psa(firm: dict) -> httpx.Client:
    v = firm["vendors"]["psa"]
    return httpx.Client(
        base_url=f"{v['base_url']}/api/v1",
        headers={"Authorization": f"Bearer {v['credentials']['token']}"},
        timeout=30,
    )


def psa_records(firm: dict, collection: str, ids: list[str]) -> dict[str, dict]:
    """Fetch records by id through the PSA's `only=` filter, across pages."""
    out: dict[str, dict] = {}
    with psa(firm) as client:
        for start in range(0, len(ids), 100):
            body = client.get(
                f"/{collection}.json",
                params={**TE_FILTERS, "only": ",".join(ids[start : start + 100])},
            ).json()
            out.update({r["id"]: body[collection][r["id"]] for r in body["results"]})
    return out


def entries_by_class(firm: dict, record_type: str) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = collections.defaultdict(list)
    for d in firm["manifest"]:
        if d["record_type"] == record_type:
            grouped[d["defect_class"]].append(d)
    return grouped


def hcm_report(firm: dict, report: str, **prompts: str) -> list[dict]:
    v = firm["vendors"]["hcm"]
    c = v["credentials"]
    url = f"{v['base_url']}/ccx/service/customreport2/{c['tenant']}/{c['report_owner']}/{report}"
    response = httpx.get(
        url, params={"format": "json", **prompts}, auth=(c["username"], c["password"])
    )
    response.raise_for_status()
    return response.json()["Report_Entry"]


def employee_ids(firm: dict) -> dict[str, str]:
    """PSA user id → Workday Employee_ID, from the PSA's own external references."""
    with psa(firm) as client:
        out, page = {}, 1
        while True:
            body = client.get(
                "/external_references.json", params={"per_page": 200, "page": page}
            ).json()
            for ref in body["external_references"].values():
                if ref["subject_type"] == "User" and ref["service_name"] == "Workday":
                    out[ref["subject_id"]] = ref["service_model_ref"]
            if page >= body["meta"]["page_count"]:
                return out
            page += 1


def test_the_manifest_covers_every_class_with_the_requested_count(firm):
    per_class = collections.Counter(d["defect_class"] for d in firm["manifest"])
    assert set(per_class) == set(firm["info"]["params"]["defect_classes"])
    days = {
        d["note"].split(" on ")[1].split(" ")[0] + d["note"].split(" ")[1]
        for d in firm["manifest"]
        if d["defect_class"] == "day_over_24h"
    }
    assert len(days) == firm["info"]["params"]["defects_per_class"]
    assert all(
        n == firm["info"]["params"]["defects_per_class"]
        for c, n in per_class.items()
        if c != "day_over_24h"
    )


def test_every_planted_time_entry_is_served_approved_with_its_defect(firm):
    grouped = entries_by_class(firm, "time_entries")
    ids = [d["source_id"] for ds in grouped.values() for d in ds]
    served = psa_records(firm, "time_entries", ids)
    assert set(served) == set(ids), "the PSA API does not serve every planted entry"
    assert all(served[i]["approved"] is True for i in ids)
    for d in grouped["nonpositive_minutes"]:
        assert served[d["source_id"]]["time_in_minutes"] <= 0
    for d in grouped["malformed_field"]:
        e = served[d["source_id"]]
        minutes_ok = isinstance(e["time_in_minutes"], int)
        date_ok = len(e["date_performed"]) == 10 and e["date_performed"][4] == "-"
        if date_ok:
            month, day = int(e["date_performed"][5:7]), int(e["date_performed"][8:10])
            date_ok = 1 <= month <= 12 and 1 <= day <= 31 and not (month == 10 and day > 31)
        assert not (minutes_ok and date_ok), f"entry {d['source_id']} is not malformed"
    for d in grouped["future_date"]:
        assert served[d["source_id"]]["date_performed"] > firm["info"]["params"]["as_of"]
    for d in grouped["non_latin_text"]:
        assert any(ord(ch) > 0x024F for ch in served[d["source_id"]]["notes"])  # beyond Latin
    for d in grouped["hostile_text"]:
        assert any(ch in served[d["source_id"]]["notes"] for ch in "';%\\")
    for d in grouped["duplicate_submission"]:
        original_id = d["note"].split("time entry ")[1].split(" ")[0]
        original = psa_records(firm, "time_entries", [original_id])[original_id]
        keys = ("user_id", "workspace_id", "story_id", "date_performed", "time_in_minutes", "notes")
        assert all(original[k] == served[d["source_id"]][k] for k in keys)


def test_entries_on_closed_projects_are_only_served_with_the_archived_flag(firm):
    ids = [d["source_id"] for d in entries_by_class(firm, "time_entries")["closed_project"]]
    with psa(firm) as client:
        hidden = client.get("/time_entries.json", params={"only": ",".join(ids)}).json()
    assert hidden["count"] == 0
    assert set(psa_records(firm, "time_entries", ids)) == set(ids)


def test_inactive_worker_and_missing_cost_rate_agree_with_the_hcm(firm):
    grouped = entries_by_class(firm, "time_entries")
    users = employee_ids(firm)
    inactive = psa_records(
        firm, "time_entries", [d["source_id"] for d in grouped["inactive_worker"]]
    )
    for entry in inactive.values():
        employee = users[entry["user_id"]]
        as_of = hcm_report(firm, "PSA_Workers", Effective_as_of_Date=entry["date_performed"])
        row = next(r for r in as_of if r["Employee_ID"] == employee)
        assert row["Worker_Status"] == "Terminated"
        assert row["Termination_Date"] < entry["date_performed"]
    missing = psa_records(
        firm, "time_entries", [d["source_id"] for d in grouped["missing_cost_rate"]]
    )
    for entry in missing.values():
        rates = hcm_report(
            firm, "PSA_Worker_Cost_Rates", Effective_as_of_Date=entry["date_performed"]
        )
        assert not [r for r in rates if r["Employee_ID"] == users[entry["user_id"]]]


def test_closed_period_entries_fall_in_the_erp_closed_period(firm):
    v = firm["vendors"]["erp"]
    c = v["credentials"]
    auth = OAuth1(
        c["consumer_key"],
        c["consumer_secret"],
        c["token_id"],
        c["token_secret"],
        signature_method="HMAC-SHA256",
        realm=c["account_id"],
    )
    response = requests.post(
        f"{v['base_url']}/services/rest/query/v1/suiteql",
        json={
            "q": "SELECT id, periodname, TO_CHAR(startdate, 'YYYY-MM-DD') AS s, "
            "TO_CHAR(enddate, 'YYYY-MM-DD') AS e FROM accountingperiod WHERE closed = 'T'"
        },
        headers={"Prefer": "transient"},
        auth=auth,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    closed = [(p["s"], p["e"]) for p in response.json()["items"]]
    assert closed
    ids = [d["source_id"] for d in entries_by_class(firm, "time_entries")["closed_period"]]
    for entry in psa_records(firm, "time_entries", ids).values():
        assert any(s <= entry["date_performed"] <= e for s, e in closed)


def test_planted_expenses_are_served_with_their_defect(firm):
    grouped = entries_by_class(firm, "expenses")
    ids = [d["source_id"] for ds in grouped.values() for d in ds]
    served = psa_records(firm, "expenses", ids)
    assert set(served) == set(ids)
    threshold_cents = round(float(firm["info"]["params"]["receipt_threshold"]) * 100)
    for d in grouped["expense_no_category"]:
        assert not served[d["source_id"]]["category"]
    for d in grouped["expense_receipt_missing"]:
        e = served[d["source_id"]]
        assert e["receipt_id"] is None and e["amount_in_cents"] > threshold_cents


def test_crm_defects_are_served_by_soql(firm):
    v = firm["vendors"]["crm"]
    c = v["credentials"]
    token = httpx.post(
        f"{v['base_url']}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(c["client_id"], c["client_secret"]),
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def soql(q: str) -> list[dict]:
        r = httpx.get(
            f"{v['base_url']}/services/data/v59.0/query", params={"q": q}, headers=headers
        )
        assert r.status_code == 200, r.text
        return r.json()["records"]

    mandatory = firm["info"]["params"]["deal_mandatory_fields"]
    deals = [d for d in firm["manifest"] if d["defect_class"] == "deal_missing_fields"]
    ids = ", ".join(f"'{d['source_id']}'" for d in deals)
    rows = soql(f"SELECT Id, IsWon, {', '.join(mandatory)} FROM Opportunity WHERE Id IN ({ids})")
    assert len(rows) == len(deals)
    for row in rows:
        assert row["IsWon"] is True
        note = next(d["note"] for d in deals if d["source_id"] == row["Id"])
        missing = [f for f in mandatory if f in note]
        assert missing and all(row[f] is None for f in missing)
    for dup in (d for d in firm["manifest"] if d["defect_class"] == "duplicate_account"):
        tax_id = dup["note"].split("Tax_Id__c ")[1].split(",")[0]
        same = soql(f"SELECT Id, Name FROM Account WHERE Tax_Id__c = '{tax_id}'")
        assert len(same) == 2 and dup["source_id"] in {a["Id"] for a in same}


def test_reseeding_with_the_same_seed_serves_identical_data(sandbox_session, firm):
    params = firm["info"]["params"]
    seed = {k: params[k] for k in ("seed", "time_entries", "period", "defects_per_class")}
    before = firm["info"]["content_hash"]
    again = sandbox_session.admin("POST", "/seed", json=seed)
    assert again["content_hash"] == before
    other = sandbox_session.admin("POST", "/seed", json={**seed, "seed": 7})
    assert all(other["content_hash"][v] != before[v] for v in before)
    restored = sandbox_session.admin("POST", "/seed", json=seed)
    assert restored["content_hash"] == before
    bad = httpx.post(
        f"{sandbox_session.admin_url}/_sandbox/seed", json={"seed": 1, "colour": "red"}
    )
    assert bad.status_code == 422
