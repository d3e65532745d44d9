"""The seeded firm as plain objects: people and their jobs, clients, deals, projects, rates.

:func:`build_firm` derives the whole firm from :class:`FirmParams` with seeded generators (one
per concern, so changing one part does not reshuffle the rest). It is small — O(workers) — and
held in memory; the month of time entries and expenses is streamed from it later
(:mod:`sandbox.firm.timesheets`). The vendor modules (:mod:`sandbox.firm.kantata`,
``netsuite``, ``salesforce``, ``workday``) render it in each vendor's wire format.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from random import Random
from typing import Any

from sandbox.firm import dates
from sandbox.firm.ids import IdSeq, salesforce_id
from sandbox.firm.reference import (
    BILLING_MODELS,
    CITIES,
    COMMON_STORIES,
    COMPANY_QUALIFIERS,
    COMPANY_WORDS,
    ENTITIES,
    FIRST_NAMES,
    INDUSTRY_NOUNS,
    LAST_NAMES,
    MANAGER_ROLES,
    OPEN_STAGES,
    PAYMENT_TERMS,
    PRACTICES,
    PROJECT_SUFFIXES,
    ROLES,
    SALES_REPS,
    Entity,
    Practice,
    Role,
)

# Worker kinds: the special ones carry the mid-period events the pipelines must handle.
REGULAR = "regular"
COST_CHANGE = "cost_change"  # a new cost rate effective in the middle of the period
TERMINATED = "terminated"  # leaves in the middle of the period
LATE_COST = "late_cost_rate"  # new joiner whose first cost rate starts days after the hire date
LEFT = "left"  # left before the period (disabled in the PSA, inactive in the ERP)
TRANSFERRED = "transferred"  # moves department, or is promoted, in the middle of the period
RELOCATED = "relocated"  # moves legal entity on the first day of the period

# Project kinds.
ACTIVE = "active"  # closed-won, running through the period, staffed
CLOSED = "closed"  # closed-won, finished and archived before the period
UPCOMING = "upcoming"  # closed-won in the period, starts next month, no workspace yet
OPEN = "open"  # open opportunity
LOST = "lost"  # closed-lost opportunity
INCOMPLETE = "incomplete"  # closed-won with mandatory fields missing (planted defect)
UNLISTED = "unlisted"  # PSA-only workspace with no deal, job or reference (planted defect)

DEAL_MANDATORY_FIELDS = (
    "Billing_Model__c",
    "Legal_Entity__c",
    "Rate_Card__c",
    "Practice__c",
    "Amount",
    "Start_Date__c",
)
MIN_TIME_ENTRIES = 300
MAX_TIME_ENTRIES = 20_000_000
# Business-day share of a worker's month actually logged (holidays, leave).
_ATTENDANCE = 0.92
_ENTRIES_PER_DAY = 3.0
# The ERP knows the staff hired before this long ahead of the period.
_ERP_SYNC_LAG = timedelta(days=75)
# A promotion is one job up, never into a manager role (another compensation plan).
_PROMOTION = {a.id: b for a, b in itertools.pairwise(ROLES) if b.id not in MANAGER_ROLES}


@dataclass(frozen=True)
class FirmParams:
    """The generator's parameters and the dates derived from them.

    Use :meth:`parse` to validate caller input.
    """

    seed: int
    time_entries: int
    period: str
    defects_per_class: int
    period_start: date
    period_end: date
    closed_start: date
    closed_end: date
    as_of: date
    # The instant the firm is observed at: every generated timestamp is before it.
    snapshot: datetime

    @classmethod
    def parse(
        cls, *, seed: Any, time_entries: Any, period: Any, defects_per_class: Any
    ) -> FirmParams:
        """Validate the caller's values.

        Raises:
            TypeError: a value of the wrong type.
            ValueError: a value out of range (period not ``YYYY-MM``, size too small...).
        """
        for name, value in (
            ("seed", seed),
            ("time_entries", time_entries),
            ("defects_per_class", defects_per_class),
        ):
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"{name} must be an integer, got {value!r}")
        if not isinstance(period, str):
            raise TypeError(f"period must be a 'YYYY-MM' string, got {period!r}")
        if not re.fullmatch(r"(19|20)\d\d-(0[1-9]|1[0-2])", period):
            raise ValueError(f"period must look like '2026-10', got {period!r}")
        if not MIN_TIME_ENTRIES <= time_entries <= MAX_TIME_ENTRIES:
            raise ValueError(
                f"time_entries must be between {MIN_TIME_ENTRIES} and {MAX_TIME_ENTRIES}, "
                f"got {time_entries}"
            )
        # Planted entries stay a small share of the month, so the clean data dominates.
        max_defects = time_entries // 200
        if not 0 <= defects_per_class <= max_defects:
            raise ValueError(
                f"defects_per_class must be between 0 and {max_defects} for "
                f"{time_entries} time entries, got {defects_per_class}"
            )
        start = dates.parse_period(period)
        end = dates.month_end(start)
        closed_start = dates.add_months(start, -1)
        as_of = end + timedelta(days=3)
        return cls(
            seed=seed,
            time_entries=time_entries,
            period=period,
            defects_per_class=defects_per_class,
            period_start=start,
            period_end=end,
            closed_start=closed_start,
            closed_end=start - dates.ONE_DAY,
            as_of=as_of,
            snapshot=datetime.combine(as_of, time(0), UTC),
        )

    def rng(self, purpose: str) -> Random:
        """A generator seeded by the seed and a purpose (independent streams per concern)."""
        return Random(f"{self.seed}:{purpose}")


@dataclass
class CostVersion:
    """One effective-dated HCM cost rate of a worker."""

    id: int
    effective: date
    end: date | None
    cents: int
    currency: str
    updated: datetime


@dataclass(eq=False)
class Assignment:
    """One effective-dated HCM assignment of a worker: legal entity, department, job, manager."""

    id: int
    effective: date
    end: date | None
    entity: Entity
    practice: Practice
    role: Role
    manager: Worker | None
    updated: datetime


@dataclass(eq=False)
class Worker:
    """A person: HCM worker, PSA user, maybe an ERP employee.

    ``entity``, ``role``, ``practice`` and ``manager`` are the assignment on the first day of the
    period (or the hire date): what the PSA and the ERP were set up with. ``assignments`` is the
    HCM's effective-dated history: a relocated worker's earlier entity, a transfer's or
    promotion's new department or job later in the period.
    """

    index: int
    employee_id: str
    user_id: int
    first_name: str
    last_name: str
    email: str
    entity: Entity
    role: Role
    hire_date: date
    kind: str = REGULAR
    termination_date: date | None = None
    practice: Practice = PRACTICES[0]
    manager: Worker | None = None
    relocated_from: Entity | None = None
    assignments: list[Assignment] = field(default_factory=list)
    cost_versions: list[CostVersion] = field(default_factory=list)
    # (project, weight): where the worker's time goes.
    projects: list[tuple[Project, float]] = field(default_factory=list)
    # Days with clean time in the period (weekdays, and weekend days in `weekend_days`).
    days: list[date] = field(default_factory=list)
    weekend_days: list[date] = field(default_factory=list)
    cost_change_date: date | None = None
    cost_start: date | None = None
    erp_id: int | None = None
    reference_ids: list[int] = field(default_factory=list)
    created: datetime = datetime(2020, 1, 1, tzinfo=UTC)
    hcm_updated: datetime = datetime(2020, 1, 1, tzinfo=UTC)

    @property
    def full_name(self) -> str:
        """First and last name."""
        return f"{self.first_name} {self.last_name}"

    def cost_on(self, d: date) -> int | None:
        """The HCM cost rate in cents effective on ``d``, or None."""
        for v in self.cost_versions:
            if v.effective <= d and (v.end is None or d <= v.end):
                return v.cents
        return None

    def assignment_on(self, d: date) -> Assignment:
        """The HCM assignment effective on ``d``.

        Raises:
            ValueError: ``d`` is before the first assignment (the hire date).
        """
        for a in reversed(self.assignments):
            if a.effective <= d:
                return a
        raise ValueError(f"worker {self.employee_id} has no assignment on {d}")


@dataclass(eq=False)
class RateCardVersion:
    """A rate card version: bill rate per role from its effective date."""

    id: int
    effective: date
    rates: dict[int, int]
    role_row_ids: dict[int, int]
    created: datetime


@dataclass(eq=False)
class RateCard:
    """A PSA rate card (standard per currency, or negotiated for one workspace)."""

    id: int
    title: str
    entity: Entity
    versions: list[RateCardVersion]
    created: datetime
    workspace_project: Project | None = None

    def rates_on(self, d: date) -> dict[int, int]:
        """Bill rate in cents per role id from the version effective on ``d``.

        Raises:
            ValueError: no version is effective yet on ``d``.
        """
        current = None
        for v in self.versions:
            if v.effective <= d:
                current = v.rates
        if current is None:
            raise ValueError(f"rate card {self.title!r} has no version effective on {d}")
        return current


@dataclass(eq=False)
class Story:
    """A PSA task in a workspace."""

    id: int
    key: str
    title: str
    story_type: str
    state: str
    billable: bool
    created: datetime


@dataclass(eq=False)
class Account:
    """A client: a Salesforce Account, maybe a NetSuite customer."""

    id: int
    sf_id: str
    name: str
    entity: Entity
    industry: str
    city: str
    tax_id: str
    terms: tuple[str, int, int, float]
    owner_id: str
    created: datetime
    modified: datetime
    duplicate_of: Account | None = None
    erp_id: int | None = None
    erp_created: datetime | None = None
    won: bool = False


@dataclass(eq=False)
class Project:
    """A deal and, once won, its PSA workspace and ERP job."""

    kind: str
    entity: Entity
    practice: Practice
    title: str
    account: Account | None
    billing_model: str | None
    start: date
    end: date | None
    amount_cents: int | None = None
    rate_card: RateCard | None = None
    deal_id: int | None = None
    sf_id: str | None = None
    stage: str = "Closed Won"
    probability: int = 100
    close_date: date | None = None
    deal_type: str = "New Business"
    owner_id: str = ""
    deal_created: datetime | None = None
    deal_modified: datetime | None = None
    missing: tuple[str, ...] = ()
    workspace_id: int | None = None
    ws_key: str = ""
    ws_created: datetime | None = None
    ws_updated: datetime | None = None
    archived: bool = False
    require_time: bool = True
    require_expense: bool = True
    stories: list[Story] = field(default_factory=list)
    reference_ids: list[int] = field(default_factory=list)
    job_id: int | None = None
    job_created: datetime | None = None
    team: list[tuple[Worker, float]] = field(default_factory=list)

    @property
    def started_stories(self) -> list[Story]:
        """Stories that take time now."""
        return [s for s in self.stories if s.state == "started"]

    @property
    def months(self) -> int:
        """Length of the engagement in whole months (12 for open-ended retainers)."""
        if self.end is None:
            return 12
        return max(1, round((self.end - self.start).days / 30.4))


@dataclass(eq=False)
class Firm:
    """The whole seeded firm except the streamed time entries and expenses."""

    params: FirmParams
    workers: list[Worker] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    projects: list[Project] = field(default_factory=list)
    rate_cards: list[RateCard] = field(default_factory=list)
    standard_cards: dict[str, RateCard] = field(default_factory=dict)
    sales_reps: list[str] = field(default_factory=list)
    external_reference_ids: IdSeq = field(default_factory=lambda: IdSeq(500_001))

    def staffed(self) -> list[Worker]:
        """Workers who log time in the period."""
        return [w for w in self.workers if w.kind != LEFT]

    def projects_of(self, *kinds: str) -> list[Project]:
        """Projects of the given kinds, in creation order."""
        return [p for p in self.projects if p.kind in kinds]


def normalized_name(name: str) -> str:
    """A company name without case, accents, punctuation or spaces (duplicate detection)."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


def _ascii(text: str) -> str:
    return re.sub(r"[^a-z]", "", normalized_name(text))


def _weighted(rng: Random, options: list[Any] | tuple[Any, ...], weights: list[float]) -> Any:
    return rng.choices(options, weights)[0]


def _round_to(cents: float, step: int) -> int:
    return max(step, round(cents / step) * step)


class _ManagerPools:
    """Managers who can manage a role: by entity and practice, and by entity alone."""

    def __init__(self, managers: list[Worker]) -> None:
        self.by_practice: dict[tuple[str, int, int], list[Worker]] = {}
        self.by_entity: dict[tuple[str, int], list[Worker]] = {}
        for role in ROLES:
            for m in managers:
                if m.role.id >= role.id:
                    code = m.entity.code
                    self.by_practice.setdefault((code, m.practice.id, role.id), []).append(m)
                    self.by_entity.setdefault((code, role.id), []).append(m)

    def pick(
        self, rng: Random, worker: Worker, entity: Entity, practice: Practice, role: Role
    ) -> Worker | None:
        """A manager for ``worker`` in that job (same practice if possible), or None."""
        for pool in (
            self.by_practice.get((entity.code, practice.id, role.id), []),
            self.by_entity.get((entity.code, role.id), []),
        ):
            if [m for m in pool[:2] if m is not worker]:
                choice = rng.choice(pool)
                while choice is worker:
                    choice = rng.choice(pool)
                return choice
        return None


class _Builder:
    """Builds a :class:`Firm` step by step; each step has its own seeded generator."""

    def __init__(self, params: FirmParams) -> None:
        self.p = params
        self.firm = Firm(params=params)
        self.business_days = {
            e.country: dates.business_days(e.country, params.period_start, params.period_end)
            for e in ENTITIES
        }
        self._emails: set[str] = set()
        self._titles: dict[int, list[str]] = {}
        self._card_version_ids = IdSeq(70001)
        self._card_role_ids = IdSeq(80001)

    def build(self) -> Firm:
        """Run every step, in dependency order."""
        self._workers()
        self._specials()
        self._leavers()
        self._relocations()
        self._clients_and_deals()
        self._staffing()
        self._managers()
        self._transfers()
        self._cost_rates()
        self._working_days()
        self._erp_records()
        self._kantata_records()
        return self.firm

    # --- people -----------------------------------------------------------------------

    def _stamp(
        self, tz: str, d: date, rng: Random, start: int = 8 * 60, end: int = 18 * 60
    ) -> datetime:
        """A time on day ``d`` between ``start`` and ``end`` (minutes), before the snapshot."""
        dt = dates.local(tz, d, rng.randint(start, end), rng.randint(0, 59))
        return min(dt, self.p.snapshot - timedelta(hours=3))

    def _worker_count(self) -> int:
        days = len(self.business_days["US"])
        return max(30, round(self.p.time_entries / (_ENTRIES_PER_DAY * days * _ATTENDANCE)))

    def _new_worker(self, rng: Random, entity: Entity, hire: date) -> Worker:
        role = _weighted(rng, ROLES, [r.weight for r in ROLES])
        first = rng.choice(FIRST_NAMES[entity.country])
        last = rng.choice(LAST_NAMES[entity.country])
        base = f"{_ascii(first)}.{_ascii(last)}"
        email, n = f"{base}@{entity.email_domain}", 1
        while email in self._emails:
            n += 1
            email = f"{base}{n}@{entity.email_domain}"
        self._emails.add(email)
        index = len(self.firm.workers)
        worker = Worker(
            index=index,
            employee_id=str(20001 + index),
            user_id=10001 + index,
            first_name=first,
            last_name=last,
            email=email,
            entity=entity,
            role=role,
            hire_date=dates.business_day_on_or_after(entity.country, hire),
        )
        self.firm.workers.append(worker)
        return worker

    def _workers(self) -> None:
        rng = self.p.rng("workers")
        total = self._worker_count()
        counts = [round(total * e.share) for e in ENTITIES[:-1]]
        counts.append(total - sum(counts))
        entities = [e for e, n in zip(ENTITIES, counts, strict=True) for _ in range(n)]
        rng.shuffle(entities)
        for entity in entities:
            # One in ten joined in the last three months: the ERP does not know them yet.
            back = rng.randint(35, 95) if rng.random() < 0.1 else rng.randint(125, 8 * 365)
            self._new_worker(rng, entity, self.p.period_start - timedelta(days=back))

    def _specials(self) -> None:
        """Pick the workers who change cost rate, leave, or join without a cost rate mid-period."""
        rng = self.p.rng("specials")
        n = self.p.defects_per_class
        total = len(self.firm.workers)
        plan = (
            (TERMINATED, max(2, round(total * 0.01), math.ceil(n / 4))),
            (LATE_COST, max(2, round(total * 0.005), math.ceil(n / 3))),
            (COST_CHANGE, max(2, round(total * 0.06))),
        )
        pools = [
            [w for w in self.firm.workers if w.entity is e and w.kind == REGULAR] for e in ENTITIES
        ]
        for kind, count in plan:
            for j in range(count):
                pool = pools[j % len(pools)]
                if len(pool) <= 3:
                    pool = max(pools, key=len)
                worker = pool.pop(rng.randrange(len(pool)))
                worker.kind = kind
                days = self.business_days[worker.entity.country]
                if kind == TERMINATED:
                    worker.termination_date = days[len(days) * 9 // 20 + rng.randint(0, 2)]
                elif kind == LATE_COST:
                    # Hired on the first business day; the cost rate was keyed a week late.
                    worker.hire_date = days[0]
                    worker.cost_start = days[5]
                else:
                    worker.cost_change_date = days[
                        rng.randint(len(days) * 7 // 20, len(days) * 13 // 20)
                    ]

    def _leavers(self) -> None:
        rng = self.p.rng("leavers")
        for j in range(max(1, round(len(self.firm.workers) * 0.02))):
            entity = ENTITIES[j % len(ENTITIES)]
            left = self.p.period_start - timedelta(days=rng.randint(20, 120))
            hire = left - timedelta(days=rng.randint(200, 2000))
            worker = self._new_worker(rng, entity, hire)
            worker.kind = LEFT
            worker.termination_date = dates.business_day_on_or_after(entity.country, left)

    def _relocations(self) -> None:
        """Move a few recent joiners to another legal entity on the first day of the period.

        Only joiners the ERP does not know yet and who manage nobody (no manager role): they work
        the whole period in the new entity (its projects and currency) in every system, and only
        the HCM's assignments and cost rates remember the old one.
        """
        rng = self.p.rng("relocations")
        synced = self.p.period_start - _ERP_SYNC_LAG
        candidates = [
            w
            for w in self.firm.workers
            if w.kind == REGULAR and w.hire_date >= synced and w.role.id not in MANAGER_ROLES
        ]
        count = min(len(candidates), max(1, round(len(self.firm.workers) * 0.005)))
        for worker in rng.sample(candidates, count):
            worker.kind = RELOCATED
            worker.relocated_from = worker.entity
            worker.entity = rng.choice([e for e in ENTITIES if e is not worker.entity])

    # --- clients, deals, rate cards -------------------------------------------------------

    def _standard_card(self, entity: Entity) -> RateCard:
        card = self.firm.standard_cards.get(entity.currency)
        if card is None:
            start = self.p.period_start
            card = self._rate_card(
                f"Standard {entity.currency}",
                entity,
                [(dates.add_months(start, -12), 1.0), (start, 1.04)],
                factor=1.0,
            )
            self.firm.standard_cards[entity.currency] = card
        return card

    def _rate_card(
        self, title: str, entity: Entity, versions: list[tuple[date, float]], factor: float
    ) -> RateCard:
        rng = self.p.rng(f"card:{title}")
        card_id = 60001 + len(self.firm.rate_cards)
        built = []
        for effective, uplift in versions:
            rates = {
                r.id: _round_to(r.bill_cents * entity.rate_factor * factor * uplift, 500)
                for r in ROLES
            }
            rows = {r.id: self._card_role_ids() for r in ROLES}
            created = self._stamp(
                entity.time_zone, effective - timedelta(days=rng.randint(7, 30)), rng
            )
            built.append(RateCardVersion(self._card_version_ids(), effective, rates, rows, created))
        card = RateCard(card_id, title, entity, built, built[0].created)
        self.firm.rate_cards.append(card)
        return card

    def _clients_and_deals(self) -> None:
        self.firm.sales_reps = [salesforce_id("005", 1 + i) for i in range(SALES_REPS)]
        account_ids, deal_ids = IdSeq(1), IdSeq(1)
        names: set[str] = set()
        tax_ids: set[str] = set()
        n = self.p.defects_per_class
        for entity in ENTITIES:
            rng = self.p.rng(f"clients:{entity.code}")
            self._standard_card(entity)
            staff = sum(1 for w in self.firm.workers if w.entity is entity and w.kind != LEFT)
            n_active = max(3, round(staff / 3.2))
            accounts = [
                self._account(rng, entity, account_ids, names, tax_ids)
                for _ in range(max(3, round(n_active / 2.2)))
            ]
            plan = (
                (ACTIVE, n_active),
                (CLOSED, max(1, round(n_active * 0.25))),
                (UPCOMING, max(1, round(n_active * 0.08))),
                (OPEN, max(2, round(n_active * 0.35))),
                (LOST, max(1, round(n_active * 0.25))),
            )
            for kind, count in plan:
                for i in range(count):
                    account = (
                        accounts[i % len(accounts)] if kind == ACTIVE else rng.choice(accounts)
                    )
                    self._deal(rng, kind, entity, account, deal_ids)
        rng = self.p.rng("crm-defects")
        clean = list(self.firm.accounts)
        for i in range(n):
            entity = ENTITIES[i % len(ENTITIES)]
            account = rng.choice([a for a in clean if a.entity is entity])
            deal = self._deal(rng, INCOMPLETE, entity, account, deal_ids)
            deal.missing = _MISSING_FIELD_SETS[i % len(_MISSING_FIELD_SETS)]
        for i, original in enumerate(rng.sample(clean, min(n, len(clean)))):
            self._duplicate_account(rng, i, original, account_ids)
        for project in self.firm.projects:
            if project.kind in (ACTIVE, CLOSED, UPCOMING) and project.account is not None:
                project.account.won = True

    def _account(
        self, rng: Random, entity: Entity, ids: IdSeq, names: set[str], tax_ids: set[str]
    ) -> Account:
        industry = rng.choice(list(INDUSTRY_NOUNS))
        while True:
            parts = [rng.choice(COMPANY_WORDS), rng.choice(COMPANY_QUALIFIERS)]
            parts.append(rng.choice(INDUSTRY_NOUNS[industry]))
            name = " ".join(p for p in parts if p) + " " + rng.choice(entity.account_suffixes)
            if normalized_name(name) not in names:
                names.add(normalized_name(name))
                break
        while True:
            tax_id = _tax_id(rng, entity.country)
            if tax_id not in tax_ids:
                tax_ids.add(tax_id)
                break
        account_id = ids()
        created = self._stamp(
            "UTC",
            self.p.period_start - timedelta(days=rng.randint(70, 1500)),
            rng,
            13 * 60,
            22 * 60,
        )
        modified = self._stamp(
            "UTC", self.p.period_start - timedelta(days=rng.randint(3, 60)), rng, 13 * 60, 22 * 60
        )
        account = Account(
            id=account_id,
            sf_id=salesforce_id("001", account_id),
            name=name,
            entity=entity,
            industry=industry,
            city=rng.choice(CITIES[entity.country]),
            tax_id=tax_id,
            terms=_weighted(rng, PAYMENT_TERMS, [t[3] for t in PAYMENT_TERMS]),
            owner_id=rng.choice(self.firm.sales_reps),
            created=created,
            modified=max(created, modified),
        )
        self.firm.accounts.append(account)
        return account

    def _duplicate_account(self, rng: Random, i: int, original: Account, ids: IdSeq) -> None:
        variants = (
            lambda s: s.upper().replace(".", ""),
            lambda s: s.lower().replace(" ", ", ", 1),
            lambda s: s.replace(".", "").replace(" ", "  ", 1).title() + ".",
        )
        name = variants[i % len(variants)](original.name)
        account_id = ids()
        created = self._stamp("UTC", self.p.period_start + timedelta(days=rng.randint(0, 20)), rng)
        self.firm.accounts.append(
            Account(
                id=account_id,
                sf_id=salesforce_id("001", account_id),
                name=name,
                entity=original.entity,
                industry=original.industry,
                city=original.city,
                tax_id=original.tax_id,
                terms=original.terms,
                owner_id=rng.choice(self.firm.sales_reps),
                created=created,
                modified=created,
                duplicate_of=original,
            )
        )

    def _deal(
        self, rng: Random, kind: str, entity: Entity, account: Account, ids: IdSeq
    ) -> Project:
        practice = rng.choice(PRACTICES)
        model = _weighted(rng, [m for m, _ in BILLING_MODELS], [w for _, w in BILLING_MODELS])
        short = account.name.rsplit(" ", 1)[0]
        for suffix in ("Pty", "Group", "Corp.", "Co."):
            short = short.removesuffix(f" {suffix}")
        title = f"{short} - {rng.choice(PROJECT_SUFFIXES[practice.key])}"
        taken = self._titles.setdefault(account.id, [])
        if title in taken:
            title = f"{title} Phase {len(taken) + 1}"
        taken.append(title)
        start, end, close = self._deal_dates(rng, kind, model)
        deal_id = ids()
        project = Project(
            kind=kind,
            entity=entity,
            practice=practice,
            title=title,
            account=account,
            billing_model=model,
            start=dates.business_day_on_or_after(entity.country, start),
            end=end,
            deal_id=deal_id,
            sf_id=salesforce_id("006", deal_id),
            close_date=close,
            deal_type="Existing Business" if len(taken) > 1 else "New Business",
            owner_id=account.owner_id,
        )
        self._deal_history(rng, project)
        team_size = rng.randint(2, 6)
        blended = ROLES[2].bill_cents * entity.rate_factor
        monthly = team_size * 120 * blended * rng.uniform(0.8, 1.2)
        project.amount_cents = _round_to(monthly * project.months, 100_000)
        if kind in (ACTIVE, CLOSED) and rng.random() < 0.3:
            versions = [(project.start.replace(day=1), 1.0)]
            if kind == ACTIVE and rng.random() < 0.4:
                days = self.business_days[entity.country]
                versions.append((days[rng.randint(len(days) * 2 // 5, len(days) * 3 // 5)], 1.05))
            project.rate_card = self._rate_card(
                f"{short} negotiated {project.start.year}-{deal_id}",
                entity,
                versions,
                factor=rng.uniform(0.85, 0.95),
            )
            project.rate_card.workspace_project = project
        else:
            project.rate_card = self._standard_card(entity)
        self.firm.projects.append(project)
        return project

    def _deal_dates(self, rng: Random, kind: str, model: str) -> tuple[date, date | None, date]:
        """Start, end and close date of a deal of the given kind."""
        p = self.p
        if kind in (ACTIVE, CLOSED):
            if kind == ACTIVE:
                start = p.period_start - timedelta(days=rng.randint(60, 420))
                end = p.period_end + timedelta(days=rng.randint(60, 400))
            else:
                start = p.period_start - timedelta(days=rng.randint(400, 800))
                end = p.period_start - timedelta(days=rng.randint(25, 200))
            # Some retainers are evergreen: no end date.
            evergreen = kind == ACTIVE and model == "Retainer" and rng.random() < 0.3
            return start, None if evergreen else end, start - timedelta(days=rng.randint(7, 45))
        if kind in (UPCOMING, INCOMPLETE):
            close = p.period_start + timedelta(
                days=rng.randint(0, (p.period_end - p.period_start).days)
            )
            start = dates.add_months(p.period_start, 1) + timedelta(days=rng.randint(0, 20))
        elif kind == OPEN:
            close = p.period_end + timedelta(days=rng.randint(10, 120))
            start = close + timedelta(days=rng.randint(7, 30))
        else:
            close = p.period_start - timedelta(days=rng.randint(5, 200))
            start = close + timedelta(days=rng.randint(7, 30))
        return start, start + timedelta(days=rng.randint(90, 360)), close

    def _deal_history(self, rng: Random, project: Project) -> None:
        """Stage, probability, created and last-modified stamps of a deal."""
        p = self.p
        assert project.close_date is not None
        if project.kind == OPEN:
            project.stage, project.probability = rng.choice(OPEN_STAGES)
            created_on = p.period_start - timedelta(days=rng.randint(5, 150))
            modified_on = created_on + timedelta(
                days=rng.randint(0, (p.as_of - created_on).days - 1)
            )
        else:
            if project.kind == LOST:
                project.stage, project.probability = "Closed Lost", 0
            created_on = project.close_date - timedelta(days=rng.randint(30, 150))
            modified_on = min(
                project.close_date + timedelta(days=rng.randint(0, 5)), p.as_of - dates.ONE_DAY
            )
        created = self._stamp("UTC", created_on, rng, 13 * 60, 22 * 60)
        project.deal_created = created
        project.deal_modified = max(created, self._stamp("UTC", modified_on, rng, 13 * 60, 22 * 60))

    # --- staffing and people details ------------------------------------------------------

    def _staffing(self) -> None:
        rng = self.p.rng("staffing")
        for entity in ENTITIES:
            actives = [q for q in self.firm.projects if q.kind == ACTIVE and q.entity is entity]
            staff = [w for w in self.firm.workers if w.entity is entity and w.kind != LEFT]
            rng.shuffle(staff)
            for i, worker in enumerate(staff):
                primary = actives[i % len(actives)]
                worker.practice = primary.practice
                if len(actives) > 1 and rng.random() < 0.4:
                    other = rng.randrange(len(actives) - 1)
                    secondary = actives[other + 1 if other >= i % len(actives) else other]
                    worker.projects = [(primary, 0.65), (secondary, 0.35)]
                else:
                    worker.projects = [(primary, 1.0)]
                for project, weight in worker.projects:
                    project.team.append((worker, weight))
        for project in self.firm.projects:
            project.team.sort(key=lambda tw: tw[0].index)
        for worker in self.firm.workers:
            if worker.kind == LEFT:
                worker.practice = rng.choice(PRACTICES)

    def _managers(self) -> None:
        rng = self.p.rng("managers")
        pools = _ManagerPools([w for w in self.firm.staffed() if w.role.id in MANAGER_ROLES])
        for worker in self.firm.workers:
            worker.manager = pools.pick(rng, worker, worker.entity, worker.practice, worker.role)

    def _transfers(self) -> None:
        """Pick the mid-period department moves and promotions; write every worker's assignments.

        Movers manage nobody, so no team changes department under its manager. Their new
        managers have been with the firm a year and do not move themselves. A promotion is
        priced by a new cost rate on the same day; the PSA and the ERP keep the job they were set
        up with (their role on time entries and the card rate do not change).
        """
        rng = self.p.rng("transfers")
        total = len(self.firm.workers)
        managing = {id(w.manager) for w in self.firm.workers if w.manager is not None}
        movers = [w for w in self.firm.workers if w.kind == REGULAR and id(w) not in managing]
        promotable = [w for w in movers if w.role.id in _PROMOTION]
        promoted = rng.sample(promotable, min(len(promotable), max(1, round(total * 0.02))))
        promoting = {id(w) for w in promoted}
        others = [w for w in movers if id(w) not in promoting]
        moved = rng.sample(others, min(len(others), max(2, round(total * 0.04))))
        for worker in (*promoted, *moved):
            worker.kind = TRANSFERRED
        tenured = self.p.period_start - timedelta(days=365)
        pools = _ManagerPools(
            [
                w
                for w in self.firm.workers
                if w.role.id in MANAGER_ROLES
                and w.kind in (REGULAR, COST_CHANGE)
                and w.hire_date < tenured
            ]
        )
        ids = IdSeq(3_000_001)
        for worker in self.firm.workers:
            entity = worker.relocated_from or worker.entity
            hired = self._stamp(
                entity.time_zone,
                worker.hire_date - timedelta(days=rng.randint(7, 21)),
                rng,
                9 * 60,
                17 * 60,
            )
            first = Assignment(
                ids(),
                worker.hire_date,
                None,
                entity,
                worker.practice,
                worker.role,
                worker.manager,
                hired,
            )
            worker.assignments.append(first)
            if worker.relocated_from is not None:
                first.manager = pools.pick(rng, worker, entity, worker.practice, worker.role)
                keyed = self.p.period_start - timedelta(days=rng.randint(14, 30))
                self._reassign(
                    rng,
                    ids,
                    worker,
                    self.p.period_start,
                    keyed,
                    entity=worker.entity,
                    manager=worker.manager,
                )
            elif worker.kind == TRANSFERRED:
                days = self.business_days[worker.entity.country]
                effective = days[rng.randint(len(days) * 7 // 20, len(days) * 13 // 20)]
                keyed = effective - timedelta(days=rng.randint(2, 10))
                if id(worker) in promoting:
                    self._reassign(
                        rng, ids, worker, effective, keyed, role=_PROMOTION[worker.role.id]
                    )
                else:
                    practice = self._new_department(rng, worker)
                    manager = pools.pick(rng, worker, worker.entity, practice, worker.role)
                    self._reassign(
                        rng,
                        ids,
                        worker,
                        effective,
                        keyed,
                        practice=practice,
                        manager=manager or worker.manager,
                    )

    def _new_department(self, rng: Random, worker: Worker) -> Practice:
        """Where a mover goes: the practice of their other project, or another practice."""
        elsewhere = [p.practice for p, _ in worker.projects if p.practice != worker.practice]
        if elsewhere:
            return elsewhere[0]
        return rng.choice([p for p in PRACTICES if p != worker.practice])

    def _reassign(
        self,
        rng: Random,
        ids: IdSeq,
        worker: Worker,
        effective: date,
        keyed: date,
        **changes: Any,
    ) -> None:
        """Close the current assignment the day before ``effective`` and open a changed one."""
        current = worker.assignments[-1]
        current.end = effective - dates.ONE_DAY
        updated = self._stamp(worker.entity.time_zone, keyed, rng, 9 * 60, 17 * 60)
        worker.assignments.append(
            dataclasses.replace(
                current, id=ids(), effective=effective, end=None, updated=updated, **changes
            )
        )

    def _cost_rates(self) -> None:
        rng = self.p.rng("cost-rates")
        ids = IdSeq(1_000_001)
        review = dates.add_months(self.p.period_start, -6)
        for worker in self.firm.workers:
            tz = worker.entity.time_zone
            first = worker.assignments[0]
            base = _round_to(
                first.role.cost_cents * first.entity.rate_factor * rng.uniform(0.9, 1.1), 25
            )
            if worker.kind == LATE_COST:
                assert worker.cost_start is not None
                steps = [(worker.cost_start, base)]
            else:
                steps = [(worker.hire_date, base)]
                if worker.hire_date < review - timedelta(days=90):
                    steps.append((review, _round_to(base * rng.uniform(1.02, 1.06), 25)))
                for before, after in itertools.pairwise(worker.assignments):
                    if (after.role, after.entity) != (before.role, before.entity):
                        # A new job or country is paid at the worker's level in the new one.
                        factor = (after.role.cost_cents * after.entity.rate_factor) / (
                            before.role.cost_cents * before.entity.rate_factor
                        )
                        steps.append((after.effective, _round_to(steps[-1][1] * factor, 25)))
                if worker.cost_change_date is not None:
                    steps.append(
                        (
                            worker.cost_change_date,
                            _round_to(steps[-1][1] * rng.uniform(1.04, 1.12), 25),
                        )
                    )
            for i, (effective, cents) in enumerate(steps):
                end = steps[i + 1][0] - dates.ONE_DAY if i + 1 < len(steps) else None
                if effective >= self.p.period_start:
                    # Mid-period changes are keyed after the fact: a retroactive update.
                    keyed = effective + timedelta(days=rng.randint(1, 3))
                else:
                    keyed = effective - timedelta(days=rng.randint(3, 14))
                entity = worker.assignment_on(effective).entity
                updated = self._stamp(entity.time_zone, keyed, rng, 9 * 60, 17 * 60)
                worker.cost_versions.append(
                    CostVersion(ids(), effective, end, cents, entity.currency, updated)
                )
            events = [worker.hire_date - timedelta(days=rng.randint(7, 21))]
            if worker.termination_date is not None:
                events.append(worker.termination_date - timedelta(days=rng.randint(2, 10)))
            worker.hcm_updated = max(
                [self._stamp(tz, events[-1], rng, 9 * 60, 17 * 60)]
                + [v.updated for v in worker.cost_versions]
                + [a.updated for a in worker.assignments]
            )
            worker.created = self._stamp(
                tz, worker.hire_date - timedelta(days=rng.randint(1, 5)), rng
            )

    def _working_days(self) -> None:
        rng = self.p.rng("attendance")
        p = self.p
        weekends = [
            d
            for d in dates.days_between(p.period_start, p.period_end)
            if d.weekday() >= dates.SATURDAY
        ]
        for worker in self.firm.staffed():
            first = max(p.period_start, worker.cost_start or worker.hire_date)
            last = min(p.period_end, worker.termination_date or p.period_end)
            days = [d for d in self.business_days[worker.entity.country] if first <= d <= last]
            if worker.kind in (REGULAR, COST_CHANGE, TRANSFERRED, RELOCATED):
                leave = rng.choices((0, 1, 2, 3), (0.55, 0.2, 0.15, 0.1))[0]
                for d in rng.sample(days, max(0, min(leave, len(days) - 2))):
                    days.remove(d)
                if rng.random() < 0.03:
                    worker.weekend_days = [rng.choice(weekends)]
            worker.days = days

    # --- ids the vendors assign --------------------------------------------------------

    def _erp_records(self) -> None:
        """NetSuite already knows about half the clients, their projects and most staff."""
        rng = self.p.rng("erp")
        customer_ids, employee_ids, job_ids = IdSeq(1001), IdSeq(5001), IdSeq(20001)
        cutoff = self.p.period_start - _ERP_SYNC_LAG
        for account in self.firm.accounts:
            if account.won and account.duplicate_of is None and rng.random() < 0.52:
                account.erp_id = customer_ids()
                account.erp_created = account.created + timedelta(days=rng.randint(20, 60))
        for project in self.firm.projects_of(ACTIVE, CLOSED):
            assert project.account is not None and project.close_date is not None
            if project.account.erp_id is not None:
                project.job_id = job_ids()
                opened = max(project.close_date, project.account.created.date()) + timedelta(
                    days=rng.randint(1, 6)
                )
                project.job_created = self._stamp("UTC", opened, rng, 13 * 60, 22 * 60)
        for worker in self.firm.workers:
            if worker.kind != LATE_COST and worker.hire_date < cutoff:
                worker.erp_id = employee_ids()

    def _unlisted_workspaces(self, rng: Random) -> None:
        """PSA-only workspaces (no deal, job or reference): where planted entries go astray."""
        if not self.p.defects_per_class:
            return
        for entity in ENTITIES:
            start = self.p.period_start - timedelta(days=rng.randint(10, 60))
            self.firm.projects.append(
                Project(
                    kind=UNLISTED,
                    entity=entity,
                    practice=rng.choice(PRACTICES),
                    title=f"Ad hoc support {entity.city}",
                    account=None,
                    billing_model=None,
                    start=dates.business_day_on_or_after(entity.country, start),
                    end=None,
                    rate_card=self._standard_card(entity),
                )
            )

    def _kantata_records(self) -> None:
        """Workspaces for won deals, their stories, and the PSA-only workspaces."""
        rng = self.p.rng("kantata")
        ws_ids, story_ids = IdSeq(30001), IdSeq(100001)
        refs = self.firm.external_reference_ids
        self._unlisted_workspaces(rng)
        for project in self.firm.projects_of(ACTIVE, CLOSED, UNLISTED):
            tz = project.entity.time_zone
            project.workspace_id = ws_ids()
            project.ws_key = str(project.workspace_id)
            opened = project.close_date or project.start - timedelta(days=3)
            project.ws_created = self._stamp(tz, opened + timedelta(days=rng.randint(1, 5)), rng)
            if project.kind == CLOSED:
                assert project.end is not None
                project.archived = True
                touched = project.end + timedelta(days=rng.randint(3, 20))
            else:
                touched = self.p.period_start - timedelta(days=rng.randint(1, 40))
            project.ws_updated = max(project.ws_created, self._stamp(tz, touched, rng))
            project.require_time = rng.random() < 0.8
            project.require_expense = rng.random() < 0.7
            self._stories(rng, project, story_ids)
            if project.kind != UNLISTED:
                project.reference_ids.append(refs())
                if project.job_id is not None:
                    project.reference_ids.append(refs())
        for worker in self.firm.workers:
            worker.reference_ids.append(refs())
            if worker.erp_id is not None:
                worker.reference_ids.append(refs())

    def _stories(self, rng: Random, project: Project, ids: IdSeq) -> None:
        """Two common stories and five of the practice's; six take time while a project runs."""
        assert project.ws_created is not None
        titles = [*COMMON_STORIES, *rng.sample(project.practice.stories, 5)]
        milestones = 2 if project.billing_model == "Milestone" else 0
        for i, title in enumerate(titles):
            if project.kind == CLOSED:
                state = "completed"
            elif i < 6:
                state = "started"
            else:
                state = rng.choice(("completed", "not started"))
            story_id = ids()
            project.stories.append(
                Story(
                    id=story_id,
                    key=str(story_id),
                    title=title,
                    story_type="milestone" if 2 <= i < 2 + milestones else "task",
                    state=state,
                    billable=title != COMMON_STORIES[1],
                    created=project.ws_created + timedelta(minutes=5 + i),
                )
            )


_MISSING_FIELD_SETS: tuple[tuple[str, ...], ...] = (
    ("Billing_Model__c",),
    ("Legal_Entity__c", "Rate_Card__c"),
    ("Amount",),
    ("Practice__c", "Start_Date__c"),
    ("Rate_Card__c",),
)


def _tax_id(rng: Random, country: str) -> str:
    if country == "US":
        return f"{rng.randint(10, 99)}-{rng.randint(1_000_000, 9_999_999)}"
    if country == "GB":
        return f"GB{rng.randint(100_000_000, 999_999_999)}"
    digits = f"{rng.randint(10_000_000_000, 99_999_999_999)}"
    return f"{digits[:2]} {digits[2:5]} {digits[5:8]} {digits[8:]}"


def build_firm(params: FirmParams) -> Firm:
    """Build the firm (everything but the streamed time entries and expenses)."""
    return _Builder(params).build()
