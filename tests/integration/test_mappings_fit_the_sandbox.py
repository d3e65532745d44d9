"""The shipped mappings fit the seeded sandbox firm.

One firm is generated into throwaway vendor databases on the real PostgreSQL server and read
back as the vendors store it. Every ERP id the mappings name must exist in the ERP with the
right record type (and account type, item type, subsidiary), and every code the generator uses
(legal entities, PSA roles and expense categories, CRM practices, HCM departments) must have a
mapping that leads to the same ERP record the seeded ERP history uses.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from ps_sync.mappings import Mappings, load_mappings
from sandbox.generator import SeedSummary, seed_all
from sandbox.store import VendorStore

VENDORS = ("psa", "erp", "crm", "hcm")
ERP_TYPES = (
    "subsidiary",
    "currency",
    "account",
    "department",
    "classification",
    "location",
    "item",
    "expenseCategory",
    "customer",
    "job",
    "employee",
    "invoice",
)
# NetSuite account types (acctType ids) each account role may have.
ACCOUNT_TYPES = {
    "labour_cost": {"COGS"},
    "cost_clearing": {"OthCurrLiab"},
    "unbilled_wip": {"OthCurrAsset"},
    "expense_payable": {"OthCurrLiab", "AcctPay"},
}


@dataclass(frozen=True)
class SeededFirm:
    """What the generator wrote, read back from the vendor databases.

    Attributes:
        summary: the generator's summary (parameters, counts, manifest).
        erp: record type → internal id → record, every ERP record.
        crm: sObject → records.
        hcm: ``worker`` / ``assignment`` → records (organisation fields as report columns).
        psa_roles: Kantata roles as (id, name).
        psa_categories: Kantata expense categories as (id, name).
        time_entry_roles: the distinct ``role_id`` of time entries.
        expense_categories_used: the distinct (``expense_category_id``, ``category``) of expenses.
        expenses_without_receipt: (id, currency, amount in cents) of expenses with no receipt.
    """

    summary: SeedSummary
    erp: dict[str, dict[str, dict[str, Any]]]
    crm: dict[str, list[dict[str, Any]]]
    hcm: dict[str, list[dict[str, Any]]]
    psa_roles: set[tuple[str, str]]
    psa_categories: set[tuple[str, str]]
    time_entry_roles: set[str]
    expense_categories_used: set[tuple[str | None, str | None]]
    expenses_without_receipt: set[tuple[str, str, int]]


def _documents(store: VendorStore, *types: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with store.connection() as conn:
        for row in conn.execute(
            "SELECT type, data FROM record WHERE type = ANY(%s) ORDER BY type, id", (list(types),)
        ):
            found[row["type"]].append(row["data"])
    return found


def _distinct(store: VendorStore, query: str) -> set[tuple[Any, ...]]:
    with store.connection() as conn:
        return {tuple(row.values()) for row in conn.execute(query)}


@pytest.fixture(scope="module")
def firm(server_url: str) -> Iterator[SeededFirm]:
    """A seeded firm, read into memory; its databases are dropped before the tests run."""
    prefix = f"ps_sync_test_mapfit_{uuid.uuid4().hex[:8]}"
    stores = {vendor: VendorStore(server_url, prefix, vendor) for vendor in VENDORS}
    try:
        for store in stores.values():
            store.ensure()
        summary = seed_all(stores, seed=42, time_entries=1500)
        erp = _documents(stores["erp"], *ERP_TYPES)
        psa = _documents(stores["psa"], "roles", "expense_categories")
        seeded = SeededFirm(
            summary=summary,
            erp={rtype: {d["id"]: d for d in docs} for rtype, docs in erp.items()},
            crm=_documents(stores["crm"], "Account", "Opportunity"),
            hcm=_documents(stores["hcm"], "worker", "assignment"),
            psa_roles={(r["id"], r["name"]) for r in psa["roles"]},
            psa_categories={(c["id"], c["name"]) for c in psa["expense_categories"]},
            time_entry_roles={
                role
                for (role,) in _distinct(
                    stores["psa"],
                    "SELECT DISTINCT data->>'role_id' AS role_id FROM record "
                    "WHERE type = 'time_entries'",
                )
            },
            expense_categories_used=_distinct(
                stores["psa"],
                "SELECT DISTINCT data->>'expense_category_id' AS id, data->>'category' AS name "
                "FROM record WHERE type = 'expenses'",
            ),
            expenses_without_receipt=_distinct(
                stores["psa"],
                "SELECT data->>'id' AS id, data->>'currency' AS currency, "
                "(data->>'amount_in_cents')::bigint AS cents FROM record "
                "WHERE type = 'expenses' AND data->>'receipt_id' IS NULL",
            ),
        )
    finally:
        for store in stores.values():
            store.drop()
    yield seeded


def erp_setup_assignments(firm: SeededFirm) -> dict[str, dict[str, Any]]:
    """Employee_ID → the HCM organisation the ERP employee was set up with.

    The ERP holds a worker as of the first day of the period (or the hire date); the HCM may
    have moved them since (a transfer or relocation is a new effective-dated assignment).
    """
    period_start = f"{firm.summary.params['period']}-01"
    history: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for assignment in firm.hcm["assignment"]:
        history[assignment["Employee_ID"]].append(assignment)
    setup: dict[str, dict[str, Any]] = {}
    for worker in firm.hcm["worker"]:
        day = max(period_start, worker["Hire_Date"])
        effective = [a for a in history[worker["Employee_ID"]] if a["Effective_Date"] <= day]
        setup[worker["Employee_ID"]] = max(
            effective, key=lambda a: a["Effective_Date"], default=worker
        )
    return setup


@pytest.fixture(scope="module")
def mappings() -> Mappings:
    """The shipped mappings."""
    return load_mappings()


def test_every_legal_entity_is_its_erp_subsidiary(firm: SeededFirm, mappings: Mappings) -> None:
    generated = {
        (e["code"], e["currency"], e["time_zone"]) for e in firm.summary.params["legal_entities"]
    }
    mapped = {(e.code, e.currency, e.time_zone) for e in mappings.entities.values()}
    assert mapped == generated
    locations = {
        loc["subsidiary"]["id"]: loc["timezone"]["id"] for loc in firm.erp["location"].values()
    }
    for entity in mappings.entities.values():
        subsidiary = firm.erp["subsidiary"][entity.subsidiary_id]
        assert subsidiary["externalId"] == entity.code
        assert subsidiary["name"] == entity.name
        assert subsidiary["country"]["id"] == entity.country
        assert subsidiary["currency"]["id"] == entity.currency_id
        assert firm.erp["currency"][entity.currency_id]["symbol"] == entity.currency
        assert locations[entity.subsidiary_id] == entity.time_zone


def test_the_receipt_threshold_is_the_generators(firm: SeededFirm, mappings: Mappings) -> None:
    for entity in mappings.entities.values():
        assert f"{entity.receipt_threshold:.2f}" == firm.summary.params["receipt_threshold"]


def test_exactly_the_planted_expenses_break_the_receipt_threshold(
    firm: SeededFirm, mappings: Mappings
) -> None:
    threshold = {e.currency: e.receipt_threshold for e in mappings.entities.values()}
    over = {
        expense_id
        for expense_id, currency, cents in firm.expenses_without_receipt
        if Decimal(cents) / 100 > threshold[currency]
    }
    planted = {
        entry["source_id"]
        for entry in firm.summary.manifest
        if entry["defect_class"] == "expense_receipt_missing"
    }
    assert planted
    assert over == planted


def test_every_entity_code_the_crm_and_hcm_use_is_mapped(
    firm: SeededFirm, mappings: Mappings
) -> None:
    # Deals with an empty Legal_Entity__c are a planted CRM defect, held by validation.
    crm_codes = {r["Legal_Entity__c"] for records in firm.crm.values() for r in records} - {None}
    assert crm_codes <= set(mappings.entities)
    for organisation in (*firm.hcm["worker"], *firm.hcm["assignment"]):
        assert organisation["Time_Zone"] == mappings.entity(organisation["Company"]).time_zone
    setup = erp_setup_assignments(firm)
    for employee in firm.erp["employee"].values():
        entity = mappings.entity(setup[employee["externalId"]]["Company"])
        assert employee["subsidiary"]["id"] == entity.subsidiary_id, employee["externalId"]
    subsidiaries = {e.subsidiary_id for e in mappings.entities.values()}
    for rtype in ("customer", "job", "employee", "invoice"):
        assert {r["subsidiary"]["id"] for r in firm.erp[rtype].values()} <= subsidiaries, rtype


def test_gl_accounts_exist_with_their_number_type_and_subsidiary(
    firm: SeededFirm, mappings: Mappings
) -> None:
    for code, accounts in mappings.accounts.items():
        subsidiary = mappings.entity(code).subsidiary_id
        for role, mapped in accounts.by_role().items():
            account = firm.erp["account"][mapped.id]
            assert account["acctNumber"] == mapped.number, (code, role)
            assert account["acctType"]["id"] in ACCOUNT_TYPES[role], (code, role)
            assert subsidiary in {s["id"] for s in account["subsidiary"]["items"]}, (code, role)
            assert not account["isInactive"]


def test_service_items_exist_and_belong_to_their_practice(
    firm: SeededFirm, mappings: Mappings
) -> None:
    subsidiaries = {e.subsidiary_id for e in mappings.entities.values()}
    for practice in mappings.practices.values():
        item = firm.erp["item"][practice.service_item.id]
        assert item["itemId"] == practice.service_item.code
        assert item["itemType"]["id"] == "Service"
        assert item["class"]["id"] == practice.erp_class_id
        assert subsidiaries <= {s["id"] for s in item["subsidiary"]["items"]}
    for role in mappings.roles.values():
        if role.item is not None:
            assert firm.erp["item"][role.item.id]["itemId"] == role.item.code


def test_invoiced_time_bills_as_the_mapped_service_item(
    firm: SeededFirm, mappings: Mappings
) -> None:
    assert firm.erp["invoice"], "the seeded ERP has no invoices to compare with"
    for invoice in firm.erp["invoice"].values():
        job = firm.erp["job"][invoice["job"]["id"]]
        practice = mappings.practice_for_class(job["class"]["id"])
        for line in invoice["item"]["items"]:
            assert line["item"]["id"] == practice.service_item.id, invoice["tranId"]


def test_every_psa_role_is_mapped(firm: SeededFirm, mappings: Mappings) -> None:
    mapped = {(r.psa_role_id, r.name) for r in mappings.roles.values()}
    assert mapped == firm.psa_roles
    assert firm.time_entry_roles <= {r.psa_role_id for r in mappings.roles.values()}


def test_every_psa_expense_category_is_mapped_to_its_erp_category_and_account(
    firm: SeededFirm, mappings: Mappings
) -> None:
    categories = mappings.expense_categories.values()
    assert {(c.psa_category_id, c.name) for c in categories} == firm.psa_categories
    # Expenses without a category are a planted defect (EX_NO_CATEGORY), held by validation.
    used = {pair for pair in firm.expense_categories_used if pair != (None, None)}
    assert used <= firm.psa_categories
    for category in categories:
        erp = firm.erp["expenseCategory"][category.erp_expense_category_id]
        assert erp["name"] == category.name
        assert erp["expenseAcct"]["id"] == category.gl_account.id
        account = firm.erp["account"][category.gl_account.id]
        assert account["acctNumber"] == category.gl_account.number
        assert account["acctType"]["id"] == "Expense"


def test_practices_and_departments_match_the_erp_classes_and_departments(
    firm: SeededFirm, mappings: Mappings
) -> None:
    for practice in mappings.practices.values():
        assert not firm.erp["classification"][practice.erp_class_id]["isInactive"]
    for department in mappings.departments.values():
        assert firm.erp["department"][department.erp_department_id]["name"] == department.name
    jobs = {j["externalId"]: j for j in firm.erp["job"].values()}
    compared = 0
    for deal in firm.crm["Opportunity"]:
        if deal["Practice__c"] is None:  # a planted CRM defect: mandatory fields left empty
            continue
        practice = mappings.practice_named(deal["Practice__c"])
        if deal["Id"] in jobs:
            assert jobs[deal["Id"]]["class"]["id"] == practice.erp_class_id, deal["Id"]
            compared += 1
    assert compared, "no CRM deal has an ERP job to compare with"
    for organisation in (*firm.hcm["worker"], *firm.hcm["assignment"]):
        mappings.department_named(organisation["Department"])
    setup = erp_setup_assignments(firm)
    for employee in firm.erp["employee"].values():
        department = mappings.department_named(setup[employee["externalId"]]["Department"])
        assert employee["department"]["id"] == department.erp_department_id, employee["externalId"]
