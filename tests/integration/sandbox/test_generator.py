"""The seeded-firm generator against real PostgreSQL: determinism, an exact manifest, shapes.

One firm (seed 42, 2,000 time entries) is loaded into four vendor databases per module and read
back as stored JSON. The defect predicates below are written from the vendors' data alone, the
way ps-sync's validation rules will be: every record they flag must be in the manifest under
that class and nowhere else, and every manifest entry must be flagged by exactly its class. A
second, smaller firm (seed 1) is one where a worker moves legal entity: it is held to the same
exactness.
"""

from __future__ import annotations

import calendar
import itertools
import re
import unicodedata
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from sandbox.generator import SeedSummary, seed_all
from sandbox.store import VendorStore

SEED, SIZE, DEFECTS = 42, 2000, 3
# A firm (seed, size) with a joiner relocated to another legal entity on the period's first day.
RELOCATING_SEED, RELOCATING_SIZE = 1, 1000
VENDORS = ("psa", "erp", "crm", "hcm")


def fields(names: str) -> tuple[str, ...]:
    """Space-separated field names as a tuple."""
    return tuple(names.split())


RULES = {
    "unknown_project": "TE_UNKNOWN_PROJECT",
    "closed_project": "TE_CLOSED_PROJECT",
    "inactive_worker": "TE_INACTIVE_WORKER",
    "missing_cost_rate": "TE_MISSING_COST_RATE",
    "closed_period": "TE_CLOSED_PERIOD",
    "nonpositive_minutes": "TE_NONPOSITIVE_MINUTES",
    "day_over_24h": "TE_DAY_OVER_24H",
    "future_date": "TE_FUTURE_DATE",
    "duplicate_submission": "TE_DUPLICATE",
    "currency_mismatch": "TE_CURRENCY_MISMATCH",
    "rate_off_card": "TE_RATE_OFF_CARD",
    "malformed_field": "TE_MALFORMED",
    "hostile_text": "ACCEPT",
    "non_latin_text": "ACCEPT",
    "expense_no_category": "EX_NO_CATEGORY",
    "expense_receipt_missing": "EX_RECEIPT_MISSING",
    "deal_missing_fields": "CRM_DEAL_MISSING_FIELDS",
    "duplicate_account": "CRM_DUPLICATE_ACCOUNT",
}
# The storage contract (sandbox/README.md): record types and the key fields of their `data`.
CONTRACT: dict[str, dict[str, tuple[str, ...]]] = {
    "psa": {
        "workspaces": fields(
            "id title account_id archived start_date due_date price_in_cents currency status "
            "require_time_approvals require_expense_approvals rate_card_id external_reference_ids "
            "created_at updated_at"
        ),
        "users": fields(
            "id full_name email_address headline account_id disabled external_reference_ids "
            "created_at updated_at"
        ),
        "stories": fields(
            "id title workspace_id story_type state billable archived created_at updated_at"
        ),
        "roles": ("id", "name"),
        "rate_cards": fields("id title currency workspace_id created_at updated_at"),
        "rate_card_versions": fields("id rate_card_id effective_date created_at updated_at"),
        "rate_card_roles": ("id", "rate_card_version_id", "role_id", "rate_in_cents"),
        "time_entries": fields(
            "id date_performed time_in_minutes billable notes rate_in_cents cost_rate_in_cents "
            "currency currency_symbol currency_base_unit workspace_id story_id user_id role_id "
            "approved is_invoiced invoice_id active_submission_id recent_submission_id taxable "
            "user_can_edit location external_reference_ids created_at updated_at"
        ),
        "expenses": fields(
            "id date amount_in_cents category expense_category_id notes is_billable reimbursable "
            "is_invoiced currency workspace_id user_id story_id role_id receipt_id approved "
            "active_submission_id created_at updated_at"
        ),
        "expense_categories": ("id", "name"),
        "timesheet_submissions": (
            fields("id start_date end_date status time_entry_ids user_id workspace_id")
        ),
        "invoices": fields(
            "id invoice_date due_date status draft balance_in_cents currency time_entry_ids "
            "expense_ids workspace_ids user_invoice_number payment_status created_at updated_at"
        ),
        "external_references": fields(
            "id subject_type subject_id service_name service_model service_model_ref status "
            "created_at updated_at"
        ),
    },
    # timeBill, expenseReport and journalEntry are what ps-sync posts; the firm starts without.
    "erp": {
        t: ("id", "lastModifiedDate", "createdDate")
        for t in fields(
            "subsidiary account currency department classification location item "
            "expenseCategory customer job employee invoice customerPayment creditMemo"
        )
    }
    | {
        "accountingPeriod": fields(
            "id periodName startDate endDate closed isPosting isAdjust isQuarter isYear "
            "lastModifiedDate"
        )
    },
    "crm": {
        "Account": fields(
            "Id Name Type Industry BillingCountry BillingCity CurrencyIsoCode Legal_Entity__c "
            "Payment_Terms__c Tax_Id__c OwnerId ParentId IsDeleted CreatedDate LastModifiedDate "
            "SystemModstamp"
        ),
        "Opportunity": fields(
            "Id Name AccountId StageName CloseDate Amount CurrencyIsoCode Probability Type "
            "Billing_Model__c Legal_Entity__c Rate_Card__c Practice__c Start_Date__c End_Date__c "
            "Payment_Terms__c OwnerId IsDeleted CreatedDate LastModifiedDate SystemModstamp"
        ),
    },
    "hcm": {
        "worker": fields(
            "Employee_ID Worker Work_Email Worker_Status Hire_Date Termination_Date Company "
            "Cost_Center Department Job_Profile Location Time_Zone Manager_ID Last_Updated"
        ),
        "cost_rate": fields(
            "Employee_ID Effective_Date End_Date Hourly_Cost_Rate Currency Compensation_Plan "
            "Last_Updated"
        ),
        "assignment": fields(
            "Employee_ID Effective_Date End_Date Company Cost_Center Department Job_Profile "
            "Location Time_Zone Manager_ID Last_Updated"
        ),
    },
}
ORGANISATION = fields("Company Cost_Center Department Job_Profile Location Time_Zone Manager_ID")
# Two time entries with these equal are one submission entered twice.
DUPLICATE_KEY = fields("user_id workspace_id story_id date_performed time_in_minutes notes")
CURRENCY_OF_ENTITY = {"US01": "USD", "UK01": "GBP", "AU01": "AUD"}


@dataclass
class Row:
    """One stored record."""

    id: int
    data: dict[str, Any]
    external_id: str | None
    created_at: datetime
    updated_at: datetime


@dataclass
class Firm:
    """A seeded firm as stored, with the lookups the predicates need."""

    summary: SeedSummary
    rows: dict[str, dict[str, list[Row]]]
    by_id: dict[tuple[str, str], dict[str, dict[str, Any]]] = field(default_factory=dict)

    def all(self, vendor: str, rtype: str) -> list[dict[str, Any]]:
        """Every document of a type."""
        return [r.data for r in self.rows[vendor].get(rtype, [])]

    def index(self, vendor: str, rtype: str, key: str = "id") -> dict[str, dict[str, Any]]:
        """Documents of a type by a key field (cached)."""
        cached = self.by_id.get((vendor, f"{rtype}.{key}"))
        if cached is None:
            cached = {str(d[key]): d for d in self.all(vendor, rtype)}
            self.by_id[(vendor, f"{rtype}.{key}")] = cached
        return cached

    @property
    def as_of(self) -> date:
        return date.fromisoformat(self.summary.params["as_of"])


def _stores(server_url: str, names: tuple[str, ...] = VENDORS) -> dict[str, VendorStore]:
    prefix = f"ps_sync_test_gen_{uuid.uuid4().hex[:8]}"
    stores = {n: VendorStore(server_url, prefix, n) for n in names}
    for store in stores.values():
        store.ensure()
    return stores


def _drop(stores: dict[str, VendorStore]) -> None:
    for store in stores.values():
        store.drop()


def content_hash(store: VendorStore) -> str:
    """An order-independent hash of every record of a store."""
    with psycopg.connect(store.url) as conn:
        row = conn.execute(
            "SELECT count(*), md5(string_agg(type || ':' || id || ':' || coalesce(external_id, '') "
            "|| ':' || data::text || ':' || created_at::text || ':' || updated_at::text, ',' "
            "ORDER BY type, id)) FROM record"
        ).fetchone()
    assert row is not None
    return f"{row[0]}:{row[1]}"


def _load(stores: dict[str, VendorStore]) -> dict[str, dict[str, list[Row]]]:
    loaded: dict[str, dict[str, list[Row]]] = {}
    for name, store in stores.items():
        with psycopg.connect(store.url, row_factory=dict_row) as conn:
            records = conn.execute(
                "SELECT type, id, data, external_id, created_at, updated_at FROM record "
                "ORDER BY type, id"
            ).fetchall()
        per_type: dict[str, list[Row]] = defaultdict(list)
        for r in records:
            per_type[r["type"]].append(
                Row(r["id"], r["data"], r["external_id"], r["created_at"], r["updated_at"])
            )
        loaded[name] = dict(per_type)
    return loaded


@pytest.fixture(scope="module")
def seeded(server_url: str) -> Iterator[tuple[Firm, dict[str, str]]]:
    """The firm (seed 42, 2,000 entries) as stored, and each store's content hash."""
    stores = _stores(server_url)
    try:
        summary = seed_all(stores, seed=SEED, time_entries=SIZE, defects_per_class=DEFECTS)
        hashes = {n: content_hash(s) for n, s in stores.items()}
        yield Firm(summary, _load(stores)), hashes
    finally:
        _drop(stores)


@pytest.fixture(scope="module")
def firm(seeded: tuple[Firm, dict[str, str]]) -> Firm:
    return seeded[0]


@pytest.fixture(scope="module")
def relocating(server_url: str) -> Iterator[Firm]:
    """The firm of ``RELOCATING_SEED`` as stored."""
    stores = _stores(server_url)
    try:
        summary = seed_all(
            stores, seed=RELOCATING_SEED, time_entries=RELOCATING_SIZE, defects_per_class=DEFECTS
        )
        yield Firm(summary, _load(stores))
    finally:
        _drop(stores)


# --- predicates over the stored data (what the validation rules will check) ------------------


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _minutes(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _normalized(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def card_rate(firm: Firm, card_id: str, role_id: str, day: date) -> int | None:
    """The bill rate of a role on a rate card on a day (the version effective then)."""
    versions = [
        v
        for v in firm.all("psa", "rate_card_versions")
        if v["rate_card_id"] == card_id and date.fromisoformat(v["effective_date"]) <= day
    ]
    if not versions:
        return None
    version = max(versions, key=lambda v: v["effective_date"])
    for row in firm.all("psa", "rate_card_roles"):
        if row["rate_card_version_id"] == version["id"] and row["role_id"] == role_id:
            return row["rate_in_cents"]
    return None


def worker_of_user(firm: Firm, user_id: str) -> dict[str, Any]:
    """The HCM worker a PSA user is linked to (through its Workday external reference)."""
    refs = firm.index("psa", "external_references")
    user = firm.index("psa", "users")[user_id]
    employee = next(
        refs[r]["service_model_ref"]
        for r in user["external_reference_ids"]
        if refs[r]["service_name"] == "Workday"
    )
    return firm.index("hcm", "worker", "Employee_ID")[employee]


def cost_rates_of(firm: Firm, employee_id: str) -> list[dict[str, Any]]:
    """A worker's cost-rate versions by effective date."""
    return sorted(
        (c for c in firm.all("hcm", "cost_rate") if c["Employee_ID"] == employee_id),
        key=lambda c: c["Effective_Date"],
    )


def cost_rate_on(firm: Firm, employee_id: str, day: date) -> dict[str, Any] | None:
    """The cost-rate version effective on a day, or None."""
    for c in cost_rates_of(firm, employee_id):
        end = _date(c["End_Date"])
        if date.fromisoformat(c["Effective_Date"]) <= day and (end is None or day <= end):
            return c
    return None


def period_of(firm: Firm) -> tuple[date, date]:
    """The first and last day of the seeded period."""
    start = date.fromisoformat(firm.summary.params["period"] + "-01")
    return start, start.replace(day=calendar.monthrange(start.year, start.month)[1])


def assignments_of(firm: Firm, employee_id: str) -> list[dict[str, Any]]:
    """A worker's assignment versions by effective date."""
    return sorted(
        (a for a in firm.all("hcm", "assignment") if a["Employee_ID"] == employee_id),
        key=lambda a: a["Effective_Date"],
    )


def assignment_on(firm: Firm, employee_id: str, day: date) -> dict[str, Any] | None:
    """The assignment version effective on a day, or None."""
    for a in assignments_of(firm, employee_id):
        end = _date(a["End_Date"])
        if date.fromisoformat(a["Effective_Date"]) <= day and (end is None or day <= end):
            return a
    return None


def user_ids(firm: Firm) -> dict[str, str]:
    """Workday Employee_ID → PSA user id, from the PSA's external references."""
    refs = firm.index("psa", "external_references")
    return {
        refs[r]["service_model_ref"]: u["id"]
        for u in firm.all("psa", "users")
        for r in u["external_reference_ids"]
        if refs[r]["service_name"] == "Workday"
    }


def closed_period_of(firm: Firm, day: date) -> dict[str, Any] | None:
    """The closed posting period containing a day, or None."""
    for p in firm.all("erp", "accountingPeriod"):
        start, end = date.fromisoformat(p["startDate"]), date.fromisoformat(p["endDate"])
        if p["isPosting"] and p["closed"] and start <= day <= end:
            return p
    return None


def entry_defects(firm: Firm, te: dict[str, Any]) -> set[str]:
    """The defect classes a single time entry exhibits on its own."""
    found = set()
    day, minutes = _date(te["date_performed"]), _minutes(te["time_in_minutes"])
    if day is None or minutes is None:
        found.add("malformed_field")
    ws = firm.index("psa", "workspaces")[te["workspace_id"]]
    if not ws["external_reference_ids"]:
        found.add("unknown_project")
    if te["currency"] != ws["currency"]:
        found.add("currency_mismatch")
    if minutes is not None and minutes <= 0:
        found.add("nonpositive_minutes")
    notes = te["notes"] or ""
    if any(c in notes for c in "'%\\;"):
        found.add("hostile_text")
    if any(ord(c) > 0x24F for c in notes):
        found.add("non_latin_text")
    return found if day is None else found | dated_defects(firm, te, ws, day)


def dated_defects(firm: Firm, te: dict[str, Any], ws: dict[str, Any], day: date) -> set[str]:
    """The defect classes that depend on the work date of a time entry."""
    found = set()
    if ws["archived"] and ws["due_date"] and day > date.fromisoformat(ws["due_date"]):
        found.add("closed_project")
    worker = worker_of_user(firm, te["user_id"])
    terminated = _date(worker["Termination_Date"])
    if terminated is not None and day > terminated:
        found.add("inactive_worker")
    if cost_rate_on(firm, worker["Employee_ID"], day) is None:
        found.add("missing_cost_rate")
    if closed_period_of(firm, day) is not None:
        found.add("closed_period")
    if day > firm.as_of:
        found.add("future_date")
    if te["billable"] and te["rate_in_cents"] != card_rate(
        firm, ws["rate_card_id"], te["role_id"], day
    ):
        found.add("rate_off_card")
    return found


def flagged(firm: Firm) -> dict[tuple[str, str], set[str]]:
    """(record type or sObject, id as served) → defect classes, over every stored record."""
    result: dict[tuple[str, str], set[str]] = defaultdict(set)
    for key, defect in (*_time_entry_flags(firm), *_expense_flags(firm), *_crm_flags(firm)):
        result[key].add(defect)
    return dict(result)


def _time_entry_flags(firm: Firm) -> Iterator[tuple[tuple[str, str], str]]:
    entries = sorted(firm.all("psa", "time_entries"), key=lambda t: int(t["id"]))
    seen: set[tuple[Any, ...]] = set()
    day_totals: dict[tuple[str, date], list[dict[str, Any]]] = defaultdict(list)
    for te in entries:
        for defect in entry_defects(firm, te):
            yield ("time_entries", te["id"]), defect
        key = tuple(te[k] for k in DUPLICATE_KEY)
        if key in seen:
            yield ("time_entries", te["id"]), "duplicate_submission"
        seen.add(key)
        day = _date(te["date_performed"])
        if day is not None and _minutes(te["time_in_minutes"]) is not None:
            day_totals[(te["user_id"], day)].append(te)
    for members in day_totals.values():
        if sum(m["time_in_minutes"] for m in members) > 1440:
            for m in members:
                yield ("time_entries", m["id"]), "day_over_24h"


def _expense_flags(firm: Firm) -> Iterator[tuple[tuple[str, str], str]]:
    threshold = round(float(firm.summary.params["receipt_threshold"]) * 100)
    for ex in firm.all("psa", "expenses"):
        if ex["category"] is None and ex["expense_category_id"] is None:
            yield ("expenses", ex["id"]), "expense_no_category"
        if ex["amount_in_cents"] > threshold and ex["receipt_id"] is None:
            yield ("expenses", ex["id"]), "expense_receipt_missing"


def _crm_flags(firm: Firm) -> Iterator[tuple[tuple[str, str], str]]:
    mandatory = firm.summary.params["deal_mandatory_fields"]
    for opp in firm.all("crm", "Opportunity"):
        if opp["StageName"] == "Closed Won" and any(opp[f] is None for f in mandatory):
            yield ("Opportunity", opp["Id"]), "deal_missing_fields"
    by_tax: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for account in sorted(firm.all("crm", "Account"), key=lambda a: (a["CreatedDate"], a["Id"])):
        by_tax[account["Tax_Id__c"]].append(account)
    for accounts in by_tax.values():
        for later in accounts[1:]:
            if _normalized(later["Name"]) == _normalized(accounts[0]["Name"]):
                yield ("Account", later["Id"]), "duplicate_account"


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_data_and_another_seed_does_not(
    server_url: str, seeded: tuple[Firm, dict[str, str]]
):
    firm, first = seeded
    again, other = _stores(server_url), _stores(server_url)
    try:
        summary = seed_all(again, seed=SEED, time_entries=SIZE, defects_per_class=DEFECTS)
        seed_all(other, seed=SEED + 1, time_entries=SIZE, defects_per_class=DEFECTS)
        assert {n: content_hash(s) for n, s in again.items()} == first
        assert summary.manifest == firm.summary.manifest
        assert summary.counts == firm.summary.counts
        different = {n: content_hash(s) for n, s in other.items()}
        assert all(different[n] != first[n] for n in VENDORS)
    finally:
        _drop(again)
        _drop(other)


def test_loading_a_subset_of_stores_gives_the_same_firm(
    server_url: str, seeded: tuple[Firm, dict[str, str]]
):
    firm, full = seeded
    stores = _stores(server_url, ("crm", "hcm"))
    try:
        summary = seed_all(stores, seed=SEED, time_entries=SIZE, defects_per_class=DEFECTS)
        assert {n: content_hash(s) for n, s in stores.items()} == {
            n: full[n] for n in ("crm", "hcm")
        }
        assert set(summary.counts) == {"crm", "hcm"}
        # The manifest lists PSA defects too: the firm does not depend on what is loaded.
        assert summary.manifest == firm.summary.manifest
    finally:
        _drop(stores)


def test_reseeding_replaces_the_previous_firm(server_url: str):
    stores = _stores(server_url, ("hcm",))
    try:
        seed_all(stores, seed=1, time_entries=1000, defects_per_class=1)
        before = content_hash(stores["hcm"])
        seed_all(stores, seed=1, time_entries=1000, defects_per_class=1)
        assert content_hash(stores["hcm"]) == before
    finally:
        _drop(stores)


def test_bad_parameters_are_refused():
    with pytest.raises(TypeError, match="entries"):
        seed_all({}, entries=10)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="time_entries"):
        seed_all({}, time_entries="many")
    with pytest.raises(ValueError, match="period"):
        seed_all({}, period="October")
    with pytest.raises(ValueError, match="unknown vendor"):
        seed_all({"warehouse": None})  # type: ignore[dict-item]


# --- the manifest --------------------------------------------------------------------------


def test_manifest_lists_each_class_defects_per_class_times_with_its_rule(firm: Firm):
    manifest = firm.summary.manifest
    assert all(
        set(e) == {"defect_class", "system", "record_type", "source_id", "expected_rule", "note"}
        for e in manifest
    )
    assert all(e["expected_rule"] == RULES[e["defect_class"]] for e in manifest)
    per_class = Counter(e["defect_class"] for e in manifest if e["defect_class"] != "day_over_24h")
    assert per_class == {c: DEFECTS for c in RULES if c != "day_over_24h"}
    by_id = firm.index("psa", "time_entries")
    overfull_days = {
        (by_id[e["source_id"]]["user_id"], by_id[e["source_id"]]["date_performed"])
        for e in manifest
        if e["defect_class"] == "day_over_24h"
    }
    assert len(overfull_days) == DEFECTS
    assert len({(e["record_type"], e["source_id"]) for e in manifest}) == len(manifest)


def test_every_planted_record_exists_with_exactly_its_defect(firm: Firm):
    found = flagged(firm)
    for entry in firm.summary.manifest:
        system, rtype, source = entry["system"], entry["record_type"], entry["source_id"]
        key = "Id" if system == "crm" else "id"
        assert source in firm.index(system, rtype, key), entry
        assert found.get((rtype, source)) == {entry["defect_class"]}, (
            entry,
            found.get((rtype, source)),
        )


def assert_manifest_is_exact(firm: Firm) -> None:
    """Every record a rule flags is planted with that one defect, and nothing else is."""
    planted = {(e["record_type"], e["source_id"]): e["defect_class"] for e in firm.summary.manifest}
    found = flagged(firm)
    assert {k: {v} for k, v in planted.items()} == found
    # And the data has plenty of clean records to be clean about.
    entries = firm.all("psa", "time_entries")
    clean_approved = [
        t for t in entries if t["approved"] and ("time_entries", t["id"]) not in planted
    ]
    assert len(clean_approved) > firm.summary.params["time_entries"] // 2


def test_no_record_outside_the_manifest_trips_a_rule(firm: Firm):
    assert_manifest_is_exact(firm)


def test_planted_records_are_approved_and_their_notes_say_what_is_wrong(firm: Firm):
    for entry in firm.summary.manifest:
        if entry["system"] == "psa":
            record = firm.index("psa", entry["record_type"])[entry["source_id"]]
            assert record["approved"] is True, entry
    notes = {e["source_id"]: e["note"] for e in firm.summary.manifest}
    for entry in firm.summary.manifest:
        if entry["defect_class"] == "deal_missing_fields":
            opp = firm.index("crm", "Opportunity", "Id")[entry["source_id"]]
            missing = [f for f in firm.summary.params["deal_mandatory_fields"] if opp[f] is None]
            assert missing and all(f in notes[entry["source_id"]] for f in missing)
        if entry["defect_class"] == "malformed_field":
            te = firm.index("psa", "time_entries")[entry["source_id"]]
            name = entry["note"].split()[0]
            assert name in ("date_performed", "time_in_minutes")
            assert repr(te[name]) in entry["note"]


def test_specific_planted_defects_read_right_from_the_stored_json(firm: Firm):
    entries = firm.index("psa", "time_entries")
    workspaces = firm.index("psa", "workspaces")
    for e in firm.summary.manifest:
        if e["record_type"] != "time_entries":
            continue
        te = entries[e["source_id"]]
        klass = e["defect_class"]
        day = _date(te["date_performed"])
        if klass == "inactive_worker":
            worker = worker_of_user(firm, te["user_id"])
            assert day > date.fromisoformat(worker["Termination_Date"])
            assert firm.index("psa", "users")[te["user_id"]]["disabled"] is False
        elif klass == "closed_period":
            period = closed_period_of(firm, day)
            assert period is not None
            assert period["periodName"] == (day.strftime("%b %Y"))
        elif klass == "rate_off_card":
            ws = workspaces[te["workspace_id"]]
            assert te["billable"]
            assert te["rate_in_cents"] != card_rate(firm, ws["rate_card_id"], te["role_id"], day)
        elif klass == "duplicate_submission":
            original = next(
                t
                for t in entries.values()
                if int(t["id"]) < int(te["id"]) and all(t[k] == te[k] for k in DUPLICATE_KEY)
            )
            assert original["id"] in e["note"]
            assert ("time_entries", original["id"]) not in {
                (m["record_type"], m["source_id"]) for m in firm.summary.manifest
            }
        elif klass == "unknown_project":
            ws = workspaces[te["workspace_id"]]
            assert not ws["external_reference_ids"]
            assert not [o for o in firm.all("crm", "Opportunity") if o["Name"] == ws["title"]]
            assert not [j for j in firm.all("erp", "job") if j["companyName"] == ws["title"]]
        elif klass == "future_date":
            assert day > firm.as_of
        elif klass == "nonpositive_minutes":
            assert te["time_in_minutes"] <= 0


# --- shapes --------------------------------------------------------------------------------


def test_every_contract_type_is_seeded_with_its_key_fields(firm: Firm):
    for vendor, types in CONTRACT.items():
        for rtype, fields in types.items():
            rows = firm.rows[vendor].get(rtype, [])
            assert rows, f"{vendor} has no {rtype}"
            for row in rows:
                missing = [f for f in fields if f not in row.data]
                assert not missing, (vendor, rtype, row.id, missing)
    for vendor, types in firm.rows.items():
        for rtype, rows in types.items():
            assert firm.summary.counts[vendor][rtype] == len(rows)
            for row in rows:
                assert 0 < row.id < 10**8
                assert (
                    row.created_at
                    <= row.updated_at
                    <= datetime.combine(firm.as_of, datetime.min.time(), UTC)
                )
                if vendor == "psa":
                    assert row.data["id"] == str(row.id)
                if vendor == "erp":
                    assert row.data["id"] == str(row.id)
                    assert row.external_id == row.data.get("externalId")
                    assert row.data["lastModifiedDate"].endswith("Z")
                if vendor == "crm":
                    assert len(row.data["Id"]) == 18 and row.external_id == row.data["Id"]
                    assert re.fullmatch(
                        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000", row.data["LastModifiedDate"]
                    )
                    assert "IsWon" not in row.data and "IsClosed" not in row.data


def test_time_entries_are_about_the_requested_number_on_business_days(firm: Firm):
    entries = firm.all("psa", "time_entries")
    assert abs(len(entries) - SIZE) / SIZE < 0.03
    days = [_date(t["date_performed"]) for t in entries]
    weekdays = sum(1 for d in days if d is not None and d.weekday() < 5)
    assert weekdays / len(entries) > 0.97
    minutes = [t["time_in_minutes"] for t in entries if _minutes(t["time_in_minutes"])]
    assert 30 <= sorted(minutes)[len(minutes) // 2] <= 240
    assert {t["billable"] for t in entries} == {True, False}
    assert {t["approved"] for t in entries} == {True, False}


def assert_rates_and_costs_hold_on_the_day(firm: Firm) -> None:
    """Clean entries: card rate, HCM cost rate and the currency of the worker's entity that day."""
    planted = {e["source_id"] for e in firm.summary.manifest}
    workspaces = firm.index("psa", "workspaces")
    for te in firm.all("psa", "time_entries"):
        if te["id"] in planted:
            continue
        day = date.fromisoformat(te["date_performed"])
        ws = workspaces[te["workspace_id"]]
        assert te["rate_in_cents"] == card_rate(firm, ws["rate_card_id"], te["role_id"], day)
        worker = worker_of_user(firm, te["user_id"])
        cost = cost_rate_on(firm, worker["Employee_ID"], day)
        assignment = assignment_on(firm, worker["Employee_ID"], day)
        assert cost is not None and assignment is not None
        assert te["cost_rate_in_cents"] == round(float(cost["Hourly_Cost_Rate"]) * 100)
        assert te["currency"] == ws["currency"] == cost["Currency"]
        assert cost["Currency"] == CURRENCY_OF_ENTITY[assignment["Company"]]


def test_rates_come_from_the_card_and_cost_rates_from_the_hcm_on_the_day(firm: Firm):
    assert_rates_and_costs_hold_on_the_day(firm)


def test_approved_follows_submissions_and_workspace_settings(firm: Firm):
    workspaces = firm.index("psa", "workspaces")
    for rtype, submission_type, setting, ids_field in (
        ("time_entries", "timesheet_submissions", "require_time_approvals", "time_entry_ids"),
        ("expenses", "expense_report_submissions", "require_expense_approvals", "expense_ids"),
    ):
        submissions = firm.index("psa", submission_type)
        members = {i: s for s in submissions.values() for i in s[ids_field]}
        statuses = Counter()
        for record in firm.all("psa", rtype):
            ws = workspaces[record["workspace_id"]]
            submission = members.get(record["id"])
            if not ws[setting]:
                assert record["approved"] is True and submission is None
                assert record["active_submission_id"] is None
                continue
            statuses[submission["status"] if submission else None] += 1
            assert record["approved"] is (
                submission is not None and submission["status"] == "approved"
            )
            if submission is not None:
                assert submission["workspace_id"] == record["workspace_id"]
                assert submission["user_id"] == record["user_id"]
                day = _date(record.get("date_performed", record.get("date")))
                if day is not None:
                    assert submission["start_date"] <= day.isoformat() <= submission["end_date"]
                expected = None if submission["status"] == "rejected" else submission["id"]
                assert record["active_submission_id"] == expected
        assert statuses["approved"] > statuses["pending"] > 0


def test_cost_rate_versions_are_contiguous_and_some_change_mid_period(firm: Firm):
    start = date.fromisoformat(firm.summary.params["period"] + "-01")
    changed = []
    for worker in firm.all("hcm", "worker"):
        versions = cost_rates_of(firm, worker["Employee_ID"])
        assert versions and versions[-1]["End_Date"] is None
        for before, after in itertools.pairwise(versions):
            assert date.fromisoformat(before["End_Date"]) == date.fromisoformat(
                after["Effective_Date"]
            ) - timedelta(days=1)
        for v in versions:
            assignment = assignment_on(firm, worker["Employee_ID"], _date(v["Effective_Date"]))
            assert assignment is not None
            assert v["Currency"] == CURRENCY_OF_ENTITY[assignment["Company"]]
        assert all(re.fullmatch(r"\d+\.\d\d", v["Hourly_Cost_Rate"]) for v in versions)
        if len(versions) > 1 and date.fromisoformat(versions[-1]["Effective_Date"]) > start:
            changed.append((worker, versions[-1]))
    assert len(changed) >= 2
    users = user_ids(firm)
    for worker, change in changed[:2]:
        costs = {
            (t["date_performed"] >= change["Effective_Date"], t["cost_rate_in_cents"])
            for t in firm.all("psa", "time_entries")
            if t["user_id"] == users[worker["Employee_ID"]]
        }
        assert {after for after, _ in costs} == {False, True}
        assert len(costs) == 2


def assert_assignments_cover_employment(firm: Firm) -> None:
    """Contiguous versions from the hire date, the last open, the worker record the latest."""
    _, period_end = period_of(firm)
    for worker in firm.all("hcm", "worker"):
        employee = worker["Employee_ID"]
        versions = assignments_of(firm, employee)
        assert versions[0]["Effective_Date"] == worker["Hire_Date"]
        assert versions[-1]["End_Date"] is None
        for before, after in itertools.pairwise(versions):
            assert date.fromisoformat(before["End_Date"]) == date.fromisoformat(
                after["Effective_Date"]
            ) - timedelta(days=1)
        assert {c: worker[c] for c in ORGANISATION} == {c: versions[-1][c] for c in ORGANISATION}
        last = min(period_end, _date(worker["Termination_Date"]) or period_end)
        day = date.fromisoformat(worker["Hire_Date"])
        while day <= last:
            assert assignment_on(firm, employee, day) is not None, (employee, day)
            day += timedelta(days=1)


def test_assignments_cover_employment_and_some_workers_transfer_mid_period(firm: Firm):
    assert_assignments_cover_employment(firm)
    start, end = period_of(firm)
    users = user_ids(firm)
    moves, promotions = [], []
    for worker in firm.all("hcm", "worker"):
        for before, after in itertools.pairwise(assignments_of(firm, worker["Employee_ID"])):
            effective = date.fromisoformat(after["Effective_Date"])
            if not start < effective <= end:
                continue
            # Mid-period moves stay in the legal entity: time and currency stay valid.
            assert after["Company"] == before["Company"]
            entries = [
                t
                for t in firm.all("psa", "time_entries")
                if t["user_id"] == users[after["Employee_ID"]]
            ]
            assert {t["date_performed"] >= after["Effective_Date"] for t in entries} == {
                False,
                True,
            }
            # The PSA keeps the role it was set up with.
            assert len({t["role_id"] for t in entries}) == 1
            if after["Job_Profile"] != before["Job_Profile"]:
                promotions.append(after)
                rates = {r["Effective_Date"]: r for r in cost_rates_of(firm, after["Employee_ID"])}
                new = rates[after["Effective_Date"]]
                old = cost_rate_on(firm, after["Employee_ID"], effective - timedelta(days=1))
                assert old is not None
                assert float(new["Hourly_Cost_Rate"]) > float(old["Hourly_Cost_Rate"])
            else:
                assert after["Department"] != before["Department"]
                assert after["Cost_Center"] != before["Cost_Center"]
                moves.append(after)
    assert moves and promotions


def test_a_worker_relocated_to_another_entity_keeps_the_firm_exact(relocating: Firm):
    start, _ = period_of(relocating)
    relocated = []
    for worker in relocating.all("hcm", "worker"):
        versions = assignments_of(relocating, worker["Employee_ID"])
        companies = [v["Company"] for v in versions]
        if len(set(companies)) > 1:
            assert len(versions) == 2
            assert versions[1]["Effective_Date"] == start.isoformat()
            relocated.append(worker)
            rates = cost_rates_of(relocating, worker["Employee_ID"])
            assert rates[-1]["Effective_Date"] == start.isoformat()
            assert rates[-1]["Currency"] == CURRENCY_OF_ENTITY[companies[1]]
            assert rates[-2]["Currency"] == CURRENCY_OF_ENTITY[companies[0]]
            # The ERP does not know the worker yet: ps-sync creates them in the new subsidiary.
            assert worker["Employee_ID"] not in relocating.index("erp", "employee", "externalId")
    assert relocated
    assert_assignments_cover_employment(relocating)
    assert_rates_and_costs_hold_on_the_day(relocating)
    assert_manifest_is_exact(relocating)


def test_mid_period_leavers_and_joiners(firm: Firm):
    period = firm.summary.params["period"]
    leavers = [
        w for w in firm.all("hcm", "worker") if (w["Termination_Date"] or "").startswith(period)
    ]
    assert leavers and all(w["Worker_Status"] == "Terminated" for w in leavers)
    joiners = [w for w in firm.all("hcm", "worker") if w["Hire_Date"].startswith(period)]
    assert joiners
    employees = firm.index("erp", "employee", "externalId")
    assert not [w for w in joiners if w["Employee_ID"] in employees]


def test_entities_and_currencies_agree_across_systems(firm: Firm):
    refs = firm.index("psa", "external_references")
    opportunities = firm.index("crm", "Opportunity", "Id")
    accounts = firm.index("crm", "Account", "Id")
    jobs = firm.index("erp", "job")
    customers = firm.index("erp", "customer")
    subsidiaries = firm.index("erp", "subsidiary")
    linked = 0
    for ws in firm.all("psa", "workspaces"):
        for ref_id in ws["external_reference_ids"]:
            ref = refs[ref_id]
            assert ref["subject_type"] == "Workspace" and ref["subject_id"] == ws["id"]
            if ref["service_name"] == "Salesforce":
                opp = opportunities[ref["service_model_ref"]]
                assert opp["StageName"] == "Closed Won" and opp["Name"] == ws["title"]
                assert opp["CurrencyIsoCode"] == ws["currency"]
                assert CURRENCY_OF_ENTITY[opp["Legal_Entity__c"]] == ws["currency"]
                assert accounts[opp["AccountId"]]["Legal_Entity__c"] == opp["Legal_Entity__c"]
                linked += 1
            else:
                job = jobs[ref["service_model_ref"]]
                assert job["currency"]["refName"] == ws["currency"]
                customer = customers[job["parent"]["id"]]
                assert customer["externalId"] in accounts
                entity = subsidiaries[customer["subsidiary"]["id"]]["externalId"]
                assert CURRENCY_OF_ENTITY[entity] == ws["currency"]
    assert linked > 5
    crm_accounts = len(firm.all("crm", "Account"))
    assert 0.3 < len(firm.all("erp", "customer")) / crm_accounts < 0.8
    assert all(c["externalId"] in accounts for c in firm.all("erp", "customer"))


def test_periods_and_last_months_billing(firm: Firm):
    params = firm.summary.params
    months = {p["periodName"]: p for p in firm.all("erp", "accountingPeriod") if p["isPosting"]}
    period_start = date.fromisoformat(params["period"] + "-01")
    closed = date.fromisoformat(params["closed_period"] + "-01")
    assert months[closed.strftime("%b %Y")]["closed"] is True
    assert months[period_start.strftime("%b %Y")]["closed"] is False
    for p in months.values():
        assert p["closed"] is (date.fromisoformat(p["endDate"]) < period_start)
    psa_invoices = firm.index("psa", "invoices", "user_invoice_number")
    for inv in firm.all("erp", "invoice"):
        assert inv["postingPeriod"]["refName"] == closed.strftime("%b %Y")
        mirror = psa_invoices[inv["tranId"]]
        assert round(inv["total"] * 100) >= mirror["balance_in_cents"] >= 0
        assert mirror["currency"] == inv["currency"]["refName"]
        lines = round(sum(line["amount"] for line in inv["item"]["items"]), 2)
        assert (
            lines
            == inv["total"]
            == round(
                inv["amountPaid"]
                + inv["amountRemaining"]
                + sum(
                    c["total"]
                    for c in firm.all("erp", "creditMemo")
                    if c["createdFrom"]["id"] == inv["id"]
                ),
                2,
            )
        )
    assert len(psa_invoices) == len(firm.all("erp", "invoice")) > 0
    assert firm.all("erp", "customerPayment")
