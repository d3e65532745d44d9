"""The firm as NetSuite (ERP) records: setup, periods, master data and last month's billing.

References are ``{"id", "refName"}`` objects, sublists ``{"items": [...]}``, ids strings, money
in currency units (floats), timestamps in UTC with a ``Z``. ``externalId`` is also written to
the row's ``external_id`` column.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sandbox.firm import dates
from sandbox.firm.billing import Invoice, item_code
from sandbox.firm.model import CLOSED, LEFT, Firm, Project, Worker
from sandbox.firm.reference import (
    ENTITIES,
    EXPENSE_CATEGORIES,
    EXPENSE_ITEM_ID,
    GL_ACCOUNTS,
    NETSUITE_BILLING_TYPES,
    PARENT_SUBSIDIARY,
    PRACTICES,
    REVENUE_ACCOUNT,
    Entity,
)
from sandbox.store import RecordRow

_FISCAL_CALENDAR = {"id": "1", "refName": "Standard Fiscal Calendar"}
_AR_ACCOUNT = 1200


def ref(record_id: int | str, name: str) -> dict[str, str]:
    """A NetSuite record reference."""
    return {"id": str(record_id), "refName": name}


def _money(cents: int) -> float:
    return round(cents / 100, 2)


def period_id(d: date) -> int:
    """The id of the monthly accounting period containing ``d`` (e.g. 202610)."""
    return d.year * 100 + d.month


def _period_ref(d: date) -> dict[str, str]:
    return ref(period_id(d), d.strftime("%b %Y"))


def _all_subsidiaries() -> dict[str, Any]:
    return {"items": [ref(e.subsidiary_id, e.name) for e in ENTITIES]}


def _subsidiary(e: Entity) -> dict[str, str]:
    return ref(e.subsidiary_id, e.name)


def _currency(e: Entity) -> dict[str, str]:
    return ref(e.currency_id, e.currency)


def _row(
    rtype: str, rid: int, data: dict[str, Any], created: datetime, updated: datetime
) -> RecordRow:
    stamps = {
        "createdDate": dates.netsuite_time(created),
        "lastModifiedDate": dates.netsuite_time(updated),
    }
    data = {"id": str(rid), **data, **stamps}
    return RecordRow(rtype, rid, data, data.get("externalId"), created, updated)


def netsuite_records(firm: Firm, invoices: list[Invoice]) -> Iterator[RecordRow]:
    """Every ERP record."""
    p = firm.params
    setup = datetime.combine(dates.add_months(p.period_start, -36), time(15), UTC)
    yield from _setup(setup)
    yield from _periods(firm)
    yield from _customers_and_jobs(firm)
    yield from _employees(firm, setup)
    yield from _billing(firm, invoices)


def _setup(at: datetime) -> Iterator[RecordRow]:
    parent_id, parent_name = PARENT_SUBSIDIARY
    usd = ENTITIES[0]
    yield _row(
        "subsidiary",
        parent_id,
        {
            "externalId": "GROUP",
            "name": parent_name,
            "legalName": parent_name,
            "country": ref("US", "United States"),
            "currency": _currency(usd),
            "parent": None,
            "fiscalCalendar": _FISCAL_CALENDAR,
            "isElimination": False,
            "isInactive": False,
        },
        at,
        at,
    )
    for e in ENTITIES:
        yield _row(
            "subsidiary",
            e.subsidiary_id,
            {
                "externalId": e.code,
                "name": e.name,
                "legalName": e.name,
                "country": ref(e.country, e.country_name),
                "currency": _currency(e),
                "parent": ref(parent_id, parent_name),
                "fiscalCalendar": _FISCAL_CALENDAR,
                "isElimination": False,
                "isInactive": False,
            },
            at,
            at,
        )
    for e in ENTITIES:
        yield _row(
            "currency",
            e.currency_id,
            {
                "name": e.currency_name,
                "symbol": e.currency,
                "displaySymbol": e.currency_symbol,
                "isBaseCurrency": e.currency_id == usd.currency_id,
                "exchangeRate": e.exchange_rate,
                "currencyPrecision": 2,
                "isInactive": False,
            },
            at,
            at,
        )
    cash = {e.cash_account_id: e for e in ENTITIES}
    for account in GL_ACCOUNTS:
        owner = cash.get(account.id)
        yield _row(
            "account",
            account.id,
            {
                "acctNumber": account.number,
                "acctName": account.name,
                "acctType": ref(account.type_id, account.type_name),
                "currency": _currency(owner) if owner else None,
                "subsidiary": {"items": [_subsidiary(owner)]} if owner else _all_subsidiaries(),
                "includeChildren": owner is None,
                "isSummary": False,
                "isInactive": False,
            },
            at,
            at,
        )
    for practice in PRACTICES:
        yield _row(
            "department",
            practice.id,
            {
                "externalId": practice.key,
                "name": practice.name,
                "subsidiary": _all_subsidiaries(),
                "includeChildren": True,
                "isInactive": False,
            },
            at,
            at,
        )
        yield _row(
            "classification",
            practice.id,
            {
                "externalId": f"SL-{practice.key}",
                "name": f"{practice.name} Services",
                "subsidiary": _all_subsidiaries(),
                "includeChildren": True,
                "isInactive": False,
            },
            at,
            at,
        )
        yield _row(
            "item",
            practice.id,
            {
                "itemId": item_code(practice.id),
                "displayName": f"Professional Services - {practice.name}",
                "itemType": ref("Service", "Service"),
                "salesDescription": f"{practice.name} consulting services",
                "incomeAccount": ref(4000, "Professional Services Revenue - T&M"),
                "department": ref(practice.id, practice.name),
                "class": ref(practice.id, f"{practice.name} Services"),
                "subsidiary": _all_subsidiaries(),
                "includeChildren": True,
                "isInactive": False,
            },
            at,
            at,
        )
    yield _row(
        "item",
        EXPENSE_ITEM_ID,
        {
            "itemId": "EXP-RECHARGE",
            "displayName": "Reimbursable Expenses",
            "itemType": ref("OthCharge", "Other Charge"),
            "salesDescription": "Rebilled travel and expenses",
            "incomeAccount": ref(4100, "Reimbursable Expense Revenue"),
            "department": None,
            "class": None,
            "subsidiary": _all_subsidiaries(),
            "includeChildren": True,
            "isInactive": False,
        },
        at,
        at,
    )
    for e in ENTITIES:
        yield _row(
            "location",
            e.location_id,
            {
                "name": e.city,
                "subsidiary": _subsidiary(e),
                "timezone": ref(e.time_zone, e.time_zone),
                "mainAddress_text": f"{e.name}\n{e.city}\n{e.country_name}",
                "isInactive": False,
            },
            at,
            at,
        )
    for category in EXPENSE_CATEGORIES:
        account = next(a for a in GL_ACCOUNTS if a.id == category.account_id)
        yield _row(
            "expenseCategory",
            category.id,
            {
                "name": category.name,
                "description": f"{category.name} incurred on client work",
                "expenseAcct": ref(account.id, account.name),
                "rateRequired": category.name == "Mileage",
                "subsidiary": _all_subsidiaries(),
                "includeChildren": True,
                "isInactive": False,
            },
            at,
            at,
        )


def _periods(firm: Firm) -> Iterator[RecordRow]:
    """Posting months around the period, with their quarters and years.

    Months before the period are closed (the month before is the one planted entries fall
    in); the period and later months are open.
    """
    p = firm.params
    months = [dates.add_months(p.period_start, k) for k in range(-3, 3)]
    quarters = sorted({date(m.year, (m.month - 1) // 3 * 3 + 1, 1) for m in months})
    years = sorted({date(m.year, 1, 1) for m in months})
    for y in years:
        yield _period(firm, (y.year * 100, f"FY {y.year}"), y, date(y.year, 12, 31), kind="year")
    for q in quarters:
        end = dates.month_end(dates.add_months(q, 2))
        parent = ref(q.year * 100, f"FY {q.year}")
        yield _period(firm, _quarter(q), q, end, kind="quarter", parent=parent)
    for m in months:
        name = (period_id(m), m.strftime("%b %Y"))
        end = dates.month_end(m)
        yield _period(firm, name, m, end, kind="month", parent=ref(*_quarter(m)))


def _period(
    firm: Firm,
    key: tuple[int, str],
    start: date,
    end: date,
    *,
    kind: str,
    parent: dict[str, str] | None = None,
) -> RecordRow:
    """One accounting period, ``key`` = (id, name), ``kind`` month, quarter or year.

    A period is closed once it ended before the generator's period.
    """
    p = firm.params
    closed = end < p.period_start
    # Periods close in the first business days after they end.
    when = end + timedelta(days=6) if closed else start - timedelta(days=30)
    at = datetime.combine(min(when, p.as_of - dates.ONE_DAY), time(16), UTC)
    return _row(
        "accountingPeriod",
        key[0],
        {
            "periodName": key[1],
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "closed": closed,
            "allLocked": closed,
            "apLocked": closed,
            "arLocked": closed,
            "isAdjust": False,
            "isQuarter": kind == "quarter",
            "isYear": kind == "year",
            "isPosting": kind == "month",
            "parent": parent,
            "fiscalCalendar": _FISCAL_CALENDAR,
        },
        at,
        at,
    )


def _quarter(d: date) -> tuple[int, str]:
    """Id (e.g. 202684 for Q4 2026) and name of the quarter containing ``d``."""
    quarter = (d.month - 1) // 3 + 1
    return d.year * 100 + 80 + quarter, f"Q{quarter} {d.year}"


def _customers_and_jobs(firm: Firm) -> Iterator[RecordRow]:
    for account in firm.accounts:
        if account.erp_id is None:
            continue
        assert account.erp_created is not None
        e = account.entity
        label, _, term_id, _ = account.terms
        domain = account.name.split()[0].lower()
        yield _row(
            "customer",
            account.erp_id,
            {
                "externalId": account.sf_id,
                "entityId": f"CUST{account.erp_id}",
                "companyName": account.name,
                "isPerson": False,
                "subsidiary": _subsidiary(e),
                "currency": _currency(e),
                "terms": ref(term_id, label),
                "email": f"accounts.payable@{domain}.example",
                "vatRegNumber": account.tax_id,
                "defaultAddress": f"{account.name}\n{account.city}\n{e.country_name}",
                "entityStatus": ref(13, "CUSTOMER-Closed Won"),
                "isInactive": False,
            },
            account.erp_created,
            account.erp_created,
        )
    for project in firm.projects:
        if project.job_id is not None:
            yield _job(project)


def _job(project: Project) -> RecordRow:
    assert project.account is not None and project.account.erp_id is not None
    assert project.job_created is not None and project.billing_model is not None
    e = project.entity
    billing_id, billing_name = NETSUITE_BILLING_TYPES[project.billing_model]
    manager = next(
        (w for w, _ in reversed(project.team) if w.role.id >= 1004 and w.erp_id is not None), None
    )
    status = ref(1, "Closed") if project.kind == CLOSED else ref(2, "In Progress")
    assert project.job_id is not None
    return _row(
        "job",
        project.job_id,
        {
            "externalId": project.sf_id,
            "entityId": f"PRJ{project.job_id}",
            "companyName": project.title,
            "altName": project.title,
            "parent": ref(project.account.erp_id, project.account.name),
            "entityStatus": status,
            "startDate": project.start.isoformat(),
            "endDate": project.end.isoformat() if project.end else None,
            "projectedEndDate": project.end.isoformat() if project.end else None,
            "jobBillingType": ref(billing_id, billing_name),
            "jobPrice": _money(project.amount_cents or 0),
            "projectManager": ref(manager.erp_id or 0, manager.full_name) if manager else None,
            "subsidiary": _subsidiary(e),
            "currency": _currency(e),
            "department": ref(project.practice.id, project.practice.name),
            "class": ref(project.practice.id, f"{project.practice.name} Services"),
            "allowTime": True,
            "allowExpenses": True,
            "isInactive": False,
        },
        project.job_created,
        project.job_created,
    )


def _employees(firm: Firm, setup: datetime) -> Iterator[RecordRow]:
    p = firm.params
    for w in firm.workers:
        if w.erp_id is None:
            continue
        e = w.entity
        synced = max(setup, datetime.combine(w.hire_date, time(14), UTC))
        if w.kind == LEFT and w.termination_date is not None:
            updated = datetime.combine(w.termination_date + timedelta(days=2), time(15), UTC)
        else:
            updated = synced
        # The ERP holds the labour cost of its last sync, before the period.
        cost = w.cost_on(min(p.closed_end, w.termination_date or p.closed_end))
        manager: Worker | None = w.manager
        yield _row(
            "employee",
            w.erp_id,
            {
                "externalId": w.employee_id,
                "entityId": w.full_name,
                "firstName": w.first_name,
                "lastName": w.last_name,
                "email": w.email,
                "title": w.role.name,
                "subsidiary": _subsidiary(e),
                "department": ref(w.practice.id, w.practice.name),
                "class": ref(w.practice.id, f"{w.practice.name} Services"),
                "location": ref(e.location_id, e.city),
                "supervisor": ref(manager.erp_id, manager.full_name)
                if manager and manager.erp_id
                else None,
                "hireDate": w.hire_date.isoformat(),
                "releasedate": w.termination_date.isoformat()
                if w.kind == LEFT and w.termination_date
                else None,
                "laborCost": _money(cost) if cost is not None else None,
                "currency": _currency(e),
                "isJobResource": True,
                "isInactive": w.kind == LEFT,
            },
            synced,
            updated,
        )


def _billing(firm: Firm, invoices: list[Invoice]) -> Iterator[RecordRow]:
    for inv in invoices:
        project = inv.project
        assert project.account is not None and project.account.erp_id is not None
        e = project.entity
        customer = ref(project.account.erp_id, project.account.name)
        job = ref(project.job_id or 0, project.title)
        label, _, term_id, _ = project.account.terms
        settled = [x.created for x in inv.payments] + ([inv.credit.created] if inv.credit else [])
        updated = max([inv.created, *settled])
        remaining = inv.remaining_cents
        practice = project.practice
        dimensions = {
            "department": ref(practice.id, practice.name),
            "class": ref(practice.id, f"{practice.name} Services"),
        }
        yield _row(
            "invoice",
            inv.erp_id,
            {
                "externalId": f"PSA-INV-{inv.psa_id}",
                "tranId": inv.number,
                "entity": customer,
                "job": job,
                "tranDate": inv.day.isoformat(),
                "dueDate": inv.due.isoformat(),
                "postingPeriod": _period_ref(inv.day),
                "subsidiary": _subsidiary(e),
                "currency": _currency(e),
                "exchangeRate": e.exchange_rate,
                "terms": ref(term_id, label),
                "account": ref(_AR_ACCOUNT, "Accounts Receivable"),
                "location": ref(e.location_id, e.city),
                **dimensions,
                "memo": f"{project.title} - {inv.day:%B %Y}",
                "subtotal": _money(inv.total_cents),
                "taxTotal": 0.0,
                "total": _money(inv.total_cents),
                "amountPaid": _money(inv.paid_cents),
                "amountRemaining": _money(remaining),
                "status": ref("B", "Paid In Full") if remaining == 0 else ref("A", "Open"),
                "item": {
                    "items": [
                        {
                            "line": i + 1,
                            "item": ref(line.item_id, item_code(line.item_id)),
                            "description": line.description,
                            "quantity": line.quantity,
                            "rate": _money(line.rate_cents),
                            "amount": _money(line.amount_cents),
                            "account": ref(
                                REVENUE_ACCOUNT[project.billing_model or "T&M"], "Revenue"
                            ),
                            **dimensions,
                        }
                        for i, line in enumerate(inv.lines)
                    ]
                },
            },
            inv.created,
            updated,
        )
        due = inv.total_cents
        if inv.credit is not None:
            credit = inv.credit
            yield _row(
                "creditMemo",
                credit.id,
                {
                    "tranId": credit.number,
                    "entity": customer,
                    "job": job,
                    "createdFrom": ref(inv.erp_id, f"Invoice #{inv.number}"),
                    "tranDate": credit.day.isoformat(),
                    "postingPeriod": _period_ref(credit.day),
                    "subsidiary": _subsidiary(e),
                    "currency": _currency(e),
                    **dimensions,
                    "memo": credit.reason,
                    "total": _money(credit.amount_cents),
                    "applied": _money(credit.amount_cents),
                    "unapplied": 0.0,
                    "amountRemaining": 0.0,
                    "status": ref("B", "Fully Applied"),
                    "item": {
                        "items": [
                            {
                                "line": 1,
                                "item": ref(inv.lines[0].item_id, item_code(inv.lines[0].item_id)),
                                "description": credit.reason,
                                "quantity": 1.0,
                                "rate": _money(credit.amount_cents),
                                "amount": _money(credit.amount_cents),
                                "account": ref(4900, "Discounts and Credits"),
                            }
                        ]
                    },
                    "apply": {
                        "items": [
                            {
                                "doc": ref(inv.erp_id, f"Invoice #{inv.number}"),
                                "apply": True,
                                "amount": _money(credit.amount_cents),
                                "refNum": inv.number,
                                "type": "Invoice",
                            }
                        ]
                    },
                },
                credit.created,
                credit.created,
            )
            due -= credit.amount_cents
        for payment in inv.payments:
            yield _row(
                "customerPayment",
                payment.id,
                {
                    "tranId": payment.number,
                    "customer": customer,
                    "tranDate": payment.day.isoformat(),
                    "postingPeriod": _period_ref(payment.day),
                    "subsidiary": _subsidiary(e),
                    "currency": _currency(e),
                    "account": ref(e.cash_account_id, f"Cash - Operating {e.currency}"),
                    "arAcct": ref(_AR_ACCOUNT, "Accounts Receivable"),
                    "memo": f"Payment for {inv.number}",
                    "payment": _money(payment.amount_cents),
                    "applied": _money(payment.amount_cents),
                    "unapplied": 0.0,
                    "apply": {
                        "items": [
                            {
                                "doc": ref(inv.erp_id, f"Invoice #{inv.number}"),
                                "apply": True,
                                "amount": _money(payment.amount_cents),
                                "due": _money(due),
                                "total": _money(inv.total_cents),
                                "refNum": inv.number,
                                "type": "Invoice",
                            }
                        ]
                    },
                },
                payment.created,
                payment.created,
            )
            due -= payment.amount_cents
