"""Last month's billing: the invoices, payments and credit memos the invoice feedback reads.

Every running project the ERP already knows about was invoiced in the closed month according to
its billing model. Some invoices have since been paid (in full or in part) or credited; the PSA
shows the payment state as of the start of the period, the ERP as of the as-of date, so the
feedback workflow has news to carry back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sandbox.firm import dates
from sandbox.firm.ids import IdSeq
from sandbox.firm.model import ACTIVE, Firm, Project
from sandbox.firm.reference import PRACTICES, ROLES

_ROLE_NAMES = {r.id: r.name for r in ROLES}


@dataclass
class InvoiceLine:
    """One billed line: a service item, quantity, rate and amount."""

    item_id: int
    description: str
    quantity: float
    rate_cents: int
    amount_cents: int


@dataclass
class Payment:
    """A customer payment applied to one invoice."""

    id: int
    number: str
    day: date
    amount_cents: int
    created: datetime


@dataclass
class CreditMemo:
    """A credit memo applied to one invoice."""

    id: int
    number: str
    day: date
    amount_cents: int
    created: datetime
    reason: str


@dataclass(eq=False)
class Invoice:
    """An invoice in both systems: NetSuite ``invoice`` and Kantata ``invoices``."""

    psa_id: int
    erp_id: int
    number: str
    project: Project
    day: date
    due: date
    lines: list[InvoiceLine]
    created: datetime
    reference_id: int
    payments: list[Payment] = field(default_factory=list)
    credit: CreditMemo | None = None

    @property
    def total_cents(self) -> int:
        """Sum of the lines."""
        return sum(line.amount_cents for line in self.lines)

    def settled_before(self, d: date) -> int:
        """Cents paid or credited before ``d``."""
        paid = sum(p.amount_cents for p in self.payments if p.day < d)
        credited = self.credit.amount_cents if self.credit and self.credit.day < d else 0
        return paid + credited

    @property
    def paid_cents(self) -> int:
        """Cents received."""
        return sum(p.amount_cents for p in self.payments)

    @property
    def remaining_cents(self) -> int:
        """Cents still open in the ERP."""
        credited = self.credit.amount_cents if self.credit else 0
        return self.total_cents - self.paid_cents - credited


def _lines(firm: Firm, project: Project, day: date, rng_value: float) -> list[InvoiceLine]:
    """What the closed month billed for a project, by its billing model."""
    p = firm.params
    item = project.practice.id
    month = p.closed_start.strftime("%B %Y")
    assert project.amount_cents is not None and project.rate_card is not None
    instalment = project.amount_cents // project.months
    if project.billing_model == "T&M":
        worked = dates.add_months(p.closed_start, -1).strftime("%B %Y")
        rates = project.rate_card.rates_on(day)
        hours: dict[int, float] = {}
        for worker, weight in project.team:
            hours[worker.role.id] = hours.get(worker.role.id, 0.0) + round(weight * 136, 2)
        return [
            InvoiceLine(
                item,
                f"Professional services {worked} - {_ROLE_NAMES[role]}",
                qty,
                rates[role],
                round(qty * rates[role]),
            )
            for role, qty in sorted(hours.items())
        ]
    if project.billing_model == "Fixed Fee":
        return [InvoiceLine(item, f"Fixed fee instalment {month}", 1.0, instalment, instalment)]
    if project.billing_model == "Retainer":
        return [InvoiceLine(item, f"Monthly retainer {month}", 1.0, instalment, instalment)]
    share = (0.15, 0.2, 0.25)[int(rng_value * 3)]
    milestone = next((s.title for s in project.stories if s.story_type == "milestone"), "Delivery")
    amount = round(project.amount_cents * share)
    return [InvoiceLine(item, f"Milestone: {milestone}", 1.0, amount, amount)]


def build_invoices(firm: Firm) -> list[Invoice]:
    """Invoice every running, ERP-known project for the closed month, with its settlements."""
    p = firm.params
    rng = p.rng("billing")
    psa_ids, transaction_ids = IdSeq(800_001), IdSeq(100_001)
    numbers: dict[str, int] = {}
    invoices: list[Invoice] = []
    for project in firm.projects_of(ACTIVE):
        if project.job_id is None or project.start >= p.closed_start or not project.team:
            continue
        assert project.account is not None
        entity = project.entity
        tz = entity.time_zone
        bdays = dates.business_days(entity.country, p.closed_start, p.closed_end)
        roll = rng.random()
        if project.billing_model == "Milestone" and roll < 0.5:
            continue
        if project.billing_model == "T&M":
            day = bdays[2]  # last month's hours, billed in arrears
        elif project.billing_model == "Retainer":
            day = bdays[0]  # billed in advance
        elif project.billing_model == "Fixed Fee":
            day = dates.business_day_on_or_after(entity.country, p.closed_start.replace(day=15))
        else:
            day = bdays[int(roll * len(bdays))]  # the day the milestone was signed off
        terms_days = project.account.terms[1]
        code = entity.code
        numbers[code] = numbers.get(code, 0) + 1
        invoice = Invoice(
            psa_id=psa_ids(),
            erp_id=transaction_ids(),
            number=f"INV-{code}-{numbers[code]:05d}",
            project=project,
            day=day,
            due=day + timedelta(days=terms_days),
            lines=_lines(firm, project, day, rng.random()),
            created=dates.local(tz, day, rng.randint(600, 960), rng.randint(0, 59)),
            reference_id=firm.external_reference_ids(),
        )
        last = p.as_of - dates.ONE_DAY
        # About one invoice in twenty is credited; the second of each entity always is, so
        # even a small firm has credit memos.
        if rng.random() < 0.05 or numbers[code] == 2:
            credit_day = day + timedelta(days=rng.randint(3, 20))
            if credit_day <= last:
                credit_day = dates.business_day_on_or_after(entity.country, credit_day)
                amount = round(invoice.total_cents * rng.uniform(0.05, 0.15))
                numbers[f"CM{code}"] = numbers.get(f"CM{code}", 0) + 1
                invoice.credit = CreditMemo(
                    transaction_ids(),
                    f"CM-{code}-{numbers[f'CM{code}']:05d}",
                    credit_day,
                    amount,
                    dates.local(tz, credit_day, rng.randint(600, 960)),
                    rng.choice(
                        ("Agreed discount", "Disputed hours written off", "Rate correction")
                    ),
                )
        settle = rng.random()
        pay_day = dates.business_day_on_or_after(
            entity.country, invoice.due + timedelta(days=rng.randint(-12, 10))
        )
        pay_day = max(pay_day, day + timedelta(days=3))
        if settle < 0.7 and pay_day <= last:
            open_cents = invoice.total_cents - (
                invoice.credit.amount_cents if invoice.credit else 0
            )
            amount = open_cents if settle < 0.6 else open_cents // 2
            numbers[f"PY{code}"] = numbers.get(f"PY{code}", 0) + 1
            invoice.payments.append(
                Payment(
                    transaction_ids(),
                    f"PYMT-{code}-{numbers[f'PY{code}']:05d}",
                    pay_day,
                    amount,
                    dates.local(tz, pay_day, rng.randint(600, 960)),
                )
            )
        invoices.append(invoice)
    return invoices


def item_code(item_id: int) -> str:
    """The NetSuite item name of a practice's service item."""
    return f"PS-{PRACTICES[item_id - 1].key}"
