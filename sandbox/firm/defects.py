"""Planted defects: the classes, where each one goes, and the manifest that lists them.

Each planted record carries exactly one defect — everything else about it is valid (a known
worker, an active project, the card rate, an effective cost rate, an open period) — so the rule
expected to catch it is unambiguous. :func:`plan_defects` picks the carriers (worker, day,
workspace, story) from the firm; :mod:`sandbox.firm.timesheets` writes the records and adds them
to the :class:`Manifest` once their ids are known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from random import Random
from typing import Any

from sandbox.firm import dates
from sandbox.firm.model import (
    CLOSED,
    COST_CHANGE,
    INCOMPLETE,
    LATE_COST,
    REGULAR,
    TERMINATED,
    TRANSFERRED,
    UNLISTED,
    Firm,
    Project,
    Story,
    Worker,
)
from sandbox.firm.reference import ENTITIES


@dataclass(frozen=True)
class DefectClass:
    """A kind of planted defect and the validation rule expected to catch it."""

    name: str
    system: str
    record_type: str
    rule: str


UNKNOWN_PROJECT = DefectClass("unknown_project", "psa", "time_entries", "TE_UNKNOWN_PROJECT")
CLOSED_PROJECT = DefectClass("closed_project", "psa", "time_entries", "TE_CLOSED_PROJECT")
INACTIVE_WORKER = DefectClass("inactive_worker", "psa", "time_entries", "TE_INACTIVE_WORKER")
MISSING_COST_RATE = DefectClass("missing_cost_rate", "psa", "time_entries", "TE_MISSING_COST_RATE")
CLOSED_PERIOD = DefectClass("closed_period", "psa", "time_entries", "TE_CLOSED_PERIOD")
NONPOSITIVE_MINUTES = DefectClass(
    "nonpositive_minutes", "psa", "time_entries", "TE_NONPOSITIVE_MINUTES"
)
DAY_OVER_24H = DefectClass("day_over_24h", "psa", "time_entries", "TE_DAY_OVER_24H")
FUTURE_DATE = DefectClass("future_date", "psa", "time_entries", "TE_FUTURE_DATE")
DUPLICATE_SUBMISSION = DefectClass("duplicate_submission", "psa", "time_entries", "TE_DUPLICATE")
CURRENCY_MISMATCH = DefectClass("currency_mismatch", "psa", "time_entries", "TE_CURRENCY_MISMATCH")
RATE_OFF_CARD = DefectClass("rate_off_card", "psa", "time_entries", "TE_RATE_OFF_CARD")
MALFORMED_FIELD = DefectClass("malformed_field", "psa", "time_entries", "TE_MALFORMED")
HOSTILE_TEXT = DefectClass("hostile_text", "psa", "time_entries", "ACCEPT")
NON_LATIN_TEXT = DefectClass("non_latin_text", "psa", "time_entries", "ACCEPT")
EXPENSE_NO_CATEGORY = DefectClass("expense_no_category", "psa", "expenses", "EX_NO_CATEGORY")
EXPENSE_RECEIPT_MISSING = DefectClass(
    "expense_receipt_missing", "psa", "expenses", "EX_RECEIPT_MISSING"
)
DEAL_MISSING_FIELDS = DefectClass(
    "deal_missing_fields", "crm", "Opportunity", "CRM_DEAL_MISSING_FIELDS"
)
DUPLICATE_ACCOUNT = DefectClass("duplicate_account", "crm", "Account", "CRM_DUPLICATE_ACCOUNT")

DEFECT_CLASSES: tuple[DefectClass, ...] = (
    UNKNOWN_PROJECT,
    CLOSED_PROJECT,
    INACTIVE_WORKER,
    MISSING_COST_RATE,
    CLOSED_PERIOD,
    NONPOSITIVE_MINUTES,
    DAY_OVER_24H,
    FUTURE_DATE,
    DUPLICATE_SUBMISSION,
    CURRENCY_MISMATCH,
    RATE_OFF_CARD,
    MALFORMED_FIELD,
    HOSTILE_TEXT,
    NON_LATIN_TEXT,
    EXPENSE_NO_CATEGORY,
    EXPENSE_RECEIPT_MISSING,
    DEAL_MISSING_FIELDS,
    DUPLICATE_ACCOUNT,
)
# Classes whose record is one extra time entry on a day the worker otherwise logs normally.
_EXTRA_ON_WORKING_DAY = (
    NONPOSITIVE_MINUTES,
    CURRENCY_MISMATCH,
    RATE_OFF_CARD,
    MALFORMED_FIELD,
    HOSTILE_TEXT,
    NON_LATIN_TEXT,
)


@dataclass
class DefectSpec:
    """Where one planted defect goes (the record itself is written later)."""

    defect: DefectClass
    variant: int
    worker: Worker
    day: date
    # Workspace and story of each record (three for an overfull day, one otherwise).
    targets: list[tuple[Project, Story]]


@dataclass
class DefectPlan:
    """Every planted PSA defect, by worker index."""

    by_worker: dict[int, list[DefectSpec]] = field(default_factory=dict)

    def add(self, spec: DefectSpec) -> None:
        """Record a spec under its worker."""
        self.by_worker.setdefault(spec.worker.index, []).append(spec)


class Manifest:
    """The list of planted defects, in the shape the admin API serves."""

    def __init__(self) -> None:
        self._entries: list[tuple[int, str, dict[str, Any]]] = []

    def add(self, defect: DefectClass, source_id: str, note: str) -> None:
        """Record one planted defect."""
        entry = {
            "defect_class": defect.name,
            "system": defect.system,
            "record_type": defect.record_type,
            "source_id": source_id,
            "expected_rule": defect.rule,
            "note": note,
        }
        self._entries.append((DEFECT_CLASSES.index(defect), source_id.rjust(20), entry))

    def entries(self) -> list[dict[str, Any]]:
        """All entries, by defect class (in the catalogue's order) then source id."""
        return [entry for _, _, entry in sorted(self._entries, key=lambda e: e[:2])]


class _Planner:
    def __init__(self, firm: Firm) -> None:
        self.firm = firm
        self.p = firm.params
        self.rng: Random = self.p.rng("defects")
        self.used: set[tuple[int, date]] = set()
        self.plan = DefectPlan()
        carriers = [w for w in firm.workers if w.kind in (REGULAR, COST_CHANGE, TRANSFERRED)]
        self.regular = {e.code: [w for w in carriers if w.entity is e] for e in ENTITIES}
        self.closed_days = {
            e.country: dates.business_days(e.country, self.p.closed_start, self.p.closed_end)
            for e in ENTITIES
        }
        self.future_days = {
            e.country: dates.business_days(
                e.country, self.p.as_of + dates.ONE_DAY, self.p.as_of + timedelta(days=14)
            )
            for e in ENTITIES
        }

    def _pick(self, workers: list[Worker], days_of: Any) -> tuple[Worker, date]:
        """A worker and one of their days that carries no other defect."""
        for _ in range(1000):
            worker = self.rng.choice(workers)
            free = [d for d in days_of(worker) if (worker.index, d) not in self.used]
            if free:
                day = self.rng.choice(free)
                self.used.add((worker.index, day))
                return worker, day
        raise ValueError("the firm is too small for this many planted defects")

    def _own_project(self, worker: Worker, billable: bool = False) -> list[tuple[Project, Story]]:
        project = self.rng.choice([p for p, _ in worker.projects])
        stories = [s for s in project.started_stories if s.billable or not billable]
        return [(project, self.rng.choice(stories))]

    def _workday(self, entity_code: str | None = None) -> tuple[Worker, date]:
        pool = (
            self.regular[entity_code]
            if entity_code
            else [w for ws in self.regular.values() for w in ws]
        )
        return self._pick(pool, lambda w: w.days)

    def _add(
        self,
        defect: DefectClass,
        i: int,
        worker: Worker,
        day: date,
        targets: list[tuple[Project, Story]],
    ) -> None:
        self.plan.add(DefectSpec(defect, i, worker, day, targets))

    def run(self) -> DefectPlan:
        n = self.p.defects_per_class
        firm = self.firm
        unlisted = {p.entity.code: p for p in firm.projects_of(UNLISTED)}
        closed = {e.code: [p for p in firm.projects_of(CLOSED) if p.entity is e] for e in ENTITIES}
        terminated = [w for w in firm.workers if w.kind == TERMINATED]
        late = [w for w in firm.workers if w.kind == LATE_COST]
        for i in range(n):
            code = ENTITIES[i % len(ENTITIES)].code
            worker, day = self._workday(code)
            project = unlisted[code]
            self._add(
                UNKNOWN_PROJECT,
                i,
                worker,
                day,
                [(project, self.rng.choice(project.started_stories))],
            )

            worker, day = self._workday(code)
            project = self.rng.choice(closed[code])
            self._add(CLOSED_PROJECT, i, worker, day, [(project, self.rng.choice(project.stories))])

            worker, day = self._pick(
                terminated,
                lambda w: [
                    d
                    for d in dates.business_days(
                        w.entity.country, w.termination_date, self.p.period_end
                    )
                    if d > w.termination_date
                ],
            )
            self._add(INACTIVE_WORKER, i, worker, day, self._own_project(worker))

            worker, day = self._pick(
                late,
                lambda w: dates.business_days(
                    w.entity.country, w.hire_date, w.cost_start - dates.ONE_DAY
                ),
            )
            self._add(MISSING_COST_RATE, i, worker, day, self._own_project(worker))

            worker, day = self._pick(
                [
                    w
                    for ws in self.regular.values()
                    for w in ws
                    if w.hire_date < self.p.closed_start
                ],
                lambda w: self.closed_days[w.entity.country],
            )
            self._add(CLOSED_PERIOD, i, worker, day, self._own_project(worker))

            worker, day = self._pick(
                [w for ws in self.regular.values() for w in ws],
                lambda w: self.future_days[w.entity.country],
            )
            self._add(FUTURE_DATE, i, worker, day, self._own_project(worker))

            worker, day = self._workday()
            stories = [(p, s) for p, _ in worker.projects for s in p.started_stories]
            self._add(DAY_OVER_24H, i, worker, day, self.rng.sample(stories, 3))

            worker, day = self._workday()
            self._add(DUPLICATE_SUBMISSION, i, worker, day, self._own_project(worker))

            for defect in _EXTRA_ON_WORKING_DAY:
                worker, day = self._workday()
                self._add(
                    defect, i, worker, day, self._own_project(worker, defect is RATE_OFF_CARD)
                )

            for defect in (EXPENSE_NO_CATEGORY, EXPENSE_RECEIPT_MISSING):
                worker, day = self._workday()
                self._add(defect, i, worker, day, self._own_project(worker, billable=True))
        return self.plan


def plan_defects(firm: Firm) -> DefectPlan:
    """Choose the carrier of every planted PSA defect (``defects_per_class`` per class)."""
    return _Planner(firm).run()


def crm_manifest(firm: Firm, manifest: Manifest) -> None:
    """Add the CRM defects :func:`~sandbox.firm.model.build_firm` planted to the manifest."""
    for project in firm.projects_of(INCOMPLETE):
        manifest.add(
            DEAL_MISSING_FIELDS,
            project.sf_id or "",
            f"Closed Won opportunity missing {', '.join(project.missing)}",
        )
    for account in firm.accounts:
        if account.duplicate_of is not None:
            original = account.duplicate_of
            manifest.add(
                DUPLICATE_ACCOUNT,
                account.sf_id,
                f"second record of account {original.sf_id} {original.name!r}: "
                f"same Tax_Id__c {original.tax_id}, name {account.name!r}",
            )
