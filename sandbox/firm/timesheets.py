"""The month of time entries and expenses, streamed worker by worker.

A worker's month is at most a few hundred small records: they are drafted in memory, grouped
into weekly submissions (which decide ``approved``), numbered, rendered as Kantata records and
yielded; then the next worker. Nothing proportional to the whole month is ever held, so a
million entries stream into COPY with flat memory.

Clean days never trip a validation rule: one entry per (workspace, story) a day, at most ten
hours, the card rate of the worker's role on the day, the HCM cost rate effective on the day,
notes in plain ASCII. Planted defects (:mod:`sandbox.firm.defects`) are added on their carrier's
day and forced onto approved submissions so the pipelines see them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from random import Random
from typing import Any

from sandbox.firm import dates
from sandbox.firm.defects import (
    CLOSED_PERIOD,
    CLOSED_PROJECT,
    CURRENCY_MISMATCH,
    DAY_OVER_24H,
    DUPLICATE_SUBMISSION,
    EXPENSE_NO_CATEGORY,
    FUTURE_DATE,
    HOSTILE_TEXT,
    INACTIVE_WORKER,
    MALFORMED_FIELD,
    MISSING_COST_RATE,
    NON_LATIN_TEXT,
    NONPOSITIVE_MINUTES,
    RATE_OFF_CARD,
    UNKNOWN_PROJECT,
    DefectPlan,
    DefectSpec,
    Manifest,
)
from sandbox.firm.ids import IdSeq
from sandbox.firm.model import Firm, Project, Story, Worker
from sandbox.firm.reference import (
    COMMON_NOTES,
    ENTITIES,
    EXPENSE_CATEGORIES,
    HOSTILE_NOTES,
    MALFORMED_VALUES,
    NON_LATIN_NOTES,
    RECEIPT_THRESHOLD_CENTS,
    ExpenseCategory,
)
from sandbox.store import RecordRow

# Planted time entries per defect of each class (an overfull day has three).
TIME_ENTRY_DEFECTS_PER_CLASS = 16
_NOTES = {
    UNKNOWN_PROJECT.name: (
        "workspace {ws} {title!r} has no CRM deal, ERP job or external reference"
    ),
    CLOSED_PROJECT.name: "workspace {ws} closed on {closed} and is archived; work date {day}",
    INACTIVE_WORKER.name: "worker {employee} terminated on {terminated}; work date {day}",
    MISSING_COST_RATE.name: (
        "worker {employee} has no HCM cost rate before {cost_start}; work date {day}"
    ),
    CLOSED_PERIOD.name: "work date {day} is in the closed accounting period {month}",
    NONPOSITIVE_MINUTES.name: "time_in_minutes is {minutes}",
    DAY_OVER_24H.name: (
        "user {user} logged {day_total} minutes on {day} in {day_entries} entries (over 1440)"
    ),
    FUTURE_DATE.name: "work date {day} is after the as-of date {as_of}",
    DUPLICATE_SUBMISSION.name: (
        "repeats time entry {original} (same user, workspace, story, date, minutes and notes)"
    ),
    CURRENCY_MISMATCH.name: "currency {currency}, workspace currency {ws_currency}",
    RATE_OFF_CARD.name: (
        "rate_in_cents {rate}, rate card {card} gives {card_rate} for role {role} on {day}"
    ),
    MALFORMED_FIELD.name: "{field} is {value!r}",
    HOSTILE_TEXT.name: "notes contain SQL metacharacters (valid entry): {notes!r}",
    NON_LATIN_TEXT.name: "notes in non-Latin script (valid entry): {notes!r}",
}
_EXPENSE_RATIO = 0.1
_NON_BILLABLE_SHARE = 0.12
_CATEGORY_WEIGHTS = [c.weight for c in EXPENSE_CATEGORIES]


class _Draft:
    """A time entry before its id and approval are known."""

    __slots__ = (
        "active",
        "approved",
        "cost",
        "created",
        "day",
        "forced",
        "id",
        "minutes",
        "notes",
        "original",
        "overrides",
        "project",
        "rate",
        "recent",
        "spec",
        "story",
        "updated",
    )

    def __init__(
        self,
        day: date,
        target: tuple[Project, Story],
        minutes: int,
        *,
        notes: str,
        created: datetime,
        rate: int,
        cost: int | None,
    ) -> None:
        self.day = day
        self.project, self.story = target
        self.minutes = minutes
        self.notes = notes
        self.created = created
        self.rate = rate
        self.cost = cost
        self.overrides: dict[str, Any] | None = None
        self.spec: DefectSpec | None = None
        self.forced = False
        self.original: _Draft | None = None
        self.id = 0
        self.approved = True
        self.active: str | None = None
        self.recent: str | None = None
        self.updated = created


class _ExpenseDraft:
    """An expense before its id and approval are known."""

    __slots__ = (
        "active",
        "amount",
        "approved",
        "billable",
        "category",
        "created",
        "day",
        "forced",
        "id",
        "notes",
        "project",
        "receipt",
        "reimbursable",
        "spec",
        "story",
        "updated",
    )

    def __init__(
        self,
        day: date,
        target: tuple[Project, Story],
        category: ExpenseCategory | None,
        *,
        amount: int,
        notes: str,
        created: datetime,
    ) -> None:
        self.day = day
        self.project, self.story = target
        self.category = category
        self.amount = amount
        self.notes = notes
        self.created = created
        self.receipt: str | None = None
        self.billable = False
        self.reimbursable = True
        self.spec: DefectSpec | None = None
        self.forced = False
        self.id = 0
        self.approved = True
        self.active: str | None = None
        self.updated = created


@dataclass
class _Submission:
    """A weekly timesheet or expense report of one user on one workspace."""

    id: int
    status: str
    week: date
    members: list[Any]
    submitted: datetime
    updated: datetime

    def row(self, rtype: str, ids_field: str, user_key: str, **extra: str) -> RecordRow:
        """The Kantata record of the submission."""
        kantata = dates.kantata_time
        return RecordRow(
            rtype,
            self.id,
            {
                "id": str(self.id),
                **extra,
                "start_date": self.week.isoformat(),
                "end_date": (self.week + timedelta(days=6)).isoformat(),
                "status": self.status,
                ids_field: [str(m.id) for m in self.members],
                "user_id": user_key,
                "workspace_id": self.members[0].project.ws_key,
                "created_at": kantata(self.submitted),
                "updated_at": kantata(self.updated),
            },
            created_at=self.submitted,
            updated_at=self.updated,
        )


def _week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


class TimesheetStream:
    """Kantata time entries, expenses and their submissions for the period.

    Args:
        firm: the firm (from :func:`~sandbox.firm.model.build_firm`).
        plan: the planted PSA defects.
        manifest: where planted records are listed once their ids are known.
    """

    def __init__(self, firm: Firm, plan: DefectPlan, manifest: Manifest) -> None:
        self.firm = firm
        self.p = firm.params
        self.plan = plan
        self.manifest = manifest
        self.latest = self.p.snapshot - timedelta(hours=2)
        self.entry_ids = IdSeq(10_000_001)
        self.submission_ids = IdSeq(2_000_001)
        self.expense_ids = IdSeq(6_000_001)
        self.report_ids = IdSeq(4_000_001)
        self.receipt_ids = IdSeq(20_000_001)
        staff = firm.staffed()
        n = self.p.defects_per_class
        days = sum(len(w.days) + len(w.weekend_days) for w in staff) - n
        mean = max(0.0, (self.p.time_entries - TIME_ENTRY_DEFECTS_PER_CLASS * n) / days)
        # Entries a day: round(mean), one less or one more, with the odds that keep the mean.
        self.k_base = round(mean)
        spread = 0.15 if self.k_base >= 1 else 0.0
        self.k_up = max(0.0, mean - self.k_base) + spread
        self.k_down = max(0.0, self.k_base - mean) + spread
        self.expenses_per_worker = max(
            0.0, (self.p.time_entries * _EXPENSE_RATIO - 2 * n) / len(staff)
        )
        self.notes = {
            id(project): (*project.practice.notes, *COMMON_NOTES)
            for project in firm.projects
            if project.workspace_id is not None
        }
        self.started = {
            id(project): project.started_stories
            for project in firm.projects
            if project.workspace_id is not None
        }

    def rows(self) -> Iterator[RecordRow]:
        """Every time entry, timesheet submission, expense and expense report, by worker."""
        for worker in self.firm.staffed():
            yield from self._worker_rows(worker)

    # --- drafting ------------------------------------------------------------------------

    def _worker_rows(self, worker: Worker) -> Iterator[RecordRow]:
        rng = self.p.rng(f"time:{worker.employee_id}")
        specs = self.plan.by_worker.get(worker.index, [])
        on_day = {s.day: s for s in specs if s.defect.record_type == "time_entries"}
        drafts: list[_Draft] = []
        for day in sorted(worker.days + worker.weekend_days):
            spec = on_day.pop(day, None)
            if spec is not None and spec.defect is DAY_OVER_24H:
                drafts.extend(self._overfull_day(rng, worker, spec))
                continue
            clean = self._clean_day(
                rng,
                worker,
                day,
                weekend=day.weekday() >= dates.SATURDAY,
                reserved=spec.targets[0][1] if spec is not None else None,
                at_least=1 if spec is not None and spec.defect is DUPLICATE_SUBMISSION else 0,
            )
            drafts.extend(clean)
            if spec is not None:
                drafts.append(self._planted(rng, worker, spec, clean))
        drafts.extend(self._planted(rng, worker, spec, []) for spec in on_day.values())
        drafts.sort(key=lambda d: d.day)
        for draft in drafts:
            draft.id = self.entry_ids()
        yield from self._time_rows(rng, worker, drafts)
        yield from self._expense_rows(
            rng, worker, [s for s in specs if s.defect.record_type == "expenses"]
        )

    def _entries_today(self, rng: Random) -> int:
        r = rng.random()
        if r < self.k_down:
            return self.k_base - 1
        if r < self.k_down + self.k_up:
            return self.k_base + 1
        return self.k_base

    def _draft(
        self, rng: Random, worker: Worker, day: date, target: tuple[Project, Story], minutes: int
    ) -> _Draft:
        project = target[0]
        tz = worker.entity.time_zone
        if rng.random() < 0.15:
            created = dates.local(
                tz, day + dates.ONE_DAY, rng.randint(540, 600), rng.randint(0, 59)
            )
        else:
            created = dates.local(tz, day, rng.randint(990, 1170), rng.randint(0, 59))
        assert project.rate_card is not None
        return _Draft(
            day,
            target,
            minutes,
            notes=rng.choice(self.notes[id(project)]),
            created=min(created, self.latest),
            rate=project.rate_card.rates_on(day)[worker.role.id],
            cost=worker.cost_on(day),
        )

    def _clean_day(
        self,
        rng: Random,
        worker: Worker,
        day: date,
        *,
        weekend: bool,
        reserved: Story | None,
        at_least: int,
    ) -> list[_Draft]:
        k = self._entries_today(rng)
        if weekend:
            k = min(k, 2)
        k = max(k, at_least)
        if k <= 0:
            return []
        units = rng.randint(8, 20) if weekend else rng.randint(*worker.role.day_units)
        targets = self._targets(rng, worker, min(k, units // 2), reserved)
        k = len(targets)
        if k == 0:
            return []
        # Split the day into k parts of at least half an hour, in quarter hours.
        cuts = sorted(rng.choices(range(units - 2 * k + 1), k=k - 1))
        bounds = [0, *cuts, units - 2 * k]
        return [
            self._draft(rng, worker, day, target, (bounds[i + 1] - bounds[i] + 2) * 15)
            for i, target in enumerate(targets)
        ]

    def _targets(
        self, rng: Random, worker: Worker, k: int, reserved: Story | None
    ) -> list[tuple[Project, Story]]:
        """``k`` distinct (workspace, story) pairs for a day: no accidental duplicates."""
        used = {reserved.id} if reserved is not None else set()
        chosen: list[tuple[Project, Story]] = []
        projects = worker.projects
        for _ in range(k):
            if len(projects) == 1:
                order = [projects[0][0]]
            elif rng.random() < projects[0][1]:
                order = [projects[0][0], projects[1][0]]
            else:
                order = [projects[1][0], projects[0][0]]
            for project in order:
                options = [s for s in self.started[id(project)] if s.id not in used]
                if options:
                    break
            else:
                break
            non_billable = [s for s in options if not s.billable]
            if non_billable and rng.random() < _NON_BILLABLE_SHARE:
                story = non_billable[0]
            else:
                story = rng.choice([s for s in options if s.billable] or options)
            used.add(story.id)
            chosen.append((project, story))
        return chosen

    def _overfull_day(self, rng: Random, worker: Worker, spec: DefectSpec) -> list[_Draft]:
        drafts = []
        for target in spec.targets:
            draft = self._draft(rng, worker, spec.day, target, rng.randint(33, 41) * 15)
            draft.spec, draft.forced = spec, True
            drafts.append(draft)
        return drafts

    def _planted(
        self, rng: Random, worker: Worker, spec: DefectSpec, clean: list[_Draft]
    ) -> _Draft:
        """The one planted time entry of ``spec``; valid in every other respect."""
        project = spec.targets[0][0]
        defect, i, tz = spec.defect, spec.variant, worker.entity.time_zone
        draft = self._draft(rng, worker, spec.day, spec.targets[0], rng.randint(2, 12) * 15)
        draft.spec, draft.forced = spec, True
        if defect is CLOSED_PERIOD:
            # Logged late, in the first days of the open period.
            keyed = self.p.period_start + timedelta(days=rng.randint(1, 6))
            draft.created = dates.local(tz, keyed, rng.randint(540, 1080))
        elif defect is FUTURE_DATE:
            draft.created = min(
                dates.local(tz, self.p.as_of - timedelta(days=2), rng.randint(540, 1080)),
                self.latest,
            )
        elif defect is MISSING_COST_RATE:
            # The PSA has a cost rate; the HCM has none yet for this date.
            draft.cost = worker.cost_versions[0].cents
        elif defect is NONPOSITIVE_MINUTES:
            draft.minutes = (0, -60, -30)[i % 3]
        elif defect is DUPLICATE_SUBMISSION:
            original = clean[0]
            draft.story, draft.project = original.story, original.project
            draft.minutes, draft.notes = original.minutes, original.notes
            draft.rate, draft.cost = original.rate, original.cost
            draft.created = min(
                original.created + timedelta(minutes=rng.randint(3, 90)), self.latest
            )
            draft.original, original.forced = original, True
        elif defect is CURRENCY_MISMATCH:
            others = [e for e in ENTITIES if e.currency != project.entity.currency]
            other = others[i % len(others)]
            draft.overrides = {"currency": other.currency, "currency_symbol": other.currency_symbol}
        elif defect is RATE_OFF_CARD:
            draft.rate += (2500, -1500, 1000)[i % 3]
        elif defect is MALFORMED_FIELD:
            name, template = MALFORMED_VALUES[i % len(MALFORMED_VALUES)]
            d = spec.day
            draft.overrides = {name: template.format(year=d.year, month=d.month, day=d.day)}
        elif defect is HOSTILE_TEXT:
            draft.notes = HOSTILE_NOTES[i % len(HOSTILE_NOTES)]
        elif defect is NON_LATIN_TEXT:
            draft.notes = NON_LATIN_NOTES[i % len(NON_LATIN_NOTES)]
        return draft

    # --- approval and rendering ----------------------------------------------------------

    def _status(self, rng: Random, week: date, forced: bool) -> str | None:
        """A submission's status; None when the week was never submitted."""
        r = rng.random()
        if forced:
            return "approved"
        if (self.p.as_of - week).days >= 13:
            return "approved" if r < 0.965 else "pending" if r < 0.985 else "rejected"
        return (
            "approved" if r < 0.45 else "pending" if r < 0.75 else "rejected" if r < 0.8 else None
        )

    def _decision_times(
        self, rng: Random, tz: str, week: date, last_created: datetime
    ) -> tuple[datetime, datetime]:
        """When a week was submitted (Friday evening) and approved or rejected (next week)."""
        submitted = dates.local(tz, week + timedelta(days=4), rng.randint(960, 1080))
        submitted = min(max(submitted, last_created + timedelta(minutes=5)), self.latest)
        decided = dates.local(
            tz, week + timedelta(days=7 + rng.randint(0, 1)), rng.randint(540, 720)
        )
        decided = min(
            max(decided, submitted + timedelta(minutes=10)), self.p.snapshot - timedelta(hours=1)
        )
        return submitted, decided

    def _approve(
        self, rng: Random, worker: Worker, drafts: list[Any], record_type: str, ids: IdSeq
    ) -> list[_Submission]:
        """Group drafts into weekly submissions per workspace and set their approval."""
        groups: dict[tuple[int, date], list[Any]] = {}
        needs = "require_time" if record_type == "time_entries" else "require_expense"
        for draft in drafts:
            draft.updated = draft.created
            if getattr(draft.project, needs):
                key = (draft.project.workspace_id, _week_start(draft.day))
                groups.setdefault(key, []).append(draft)
        submissions = []
        for (_, week), members in groups.items():
            status = self._status(rng, week, any(m.forced for m in members))
            if status is None:
                for m in members:
                    m.approved = False
                continue
            sub_id = ids()
            key = str(sub_id)
            submitted, decided = self._decision_times(
                rng, worker.entity.time_zone, week, max(m.created for m in members)
            )
            for m in members:
                m.approved = status == "approved"
                m.active = None if status == "rejected" else key
                if record_type == "time_entries":
                    m.recent = key
                if status != "pending":
                    m.updated = decided
            updated = submitted if status == "pending" else decided
            submissions.append(_Submission(sub_id, status, week, members, submitted, updated))
        return submissions

    def _time_rows(self, rng: Random, worker: Worker, drafts: list[_Draft]) -> Iterator[RecordRow]:
        submissions = self._approve(rng, worker, drafts, "time_entries", self.submission_ids)
        overfull: dict[date, list[int]] = {}
        for d in drafts:
            if d.spec is not None and d.spec.defect is DAY_OVER_24H:
                overfull.setdefault(d.day, []).append(d.minutes)
        user_key, role_key = str(worker.user_id), str(worker.role.id)
        kantata = dates.kantata_time
        for d in drafts:
            project = d.project
            entity = project.entity
            data = {
                "id": str(d.id),
                "date_performed": d.day.isoformat(),
                "time_in_minutes": d.minutes,
                "billable": d.story.billable,
                "notes": d.notes,
                "rate_in_cents": d.rate,
                "cost_rate_in_cents": d.cost,
                "currency": entity.currency,
                "currency_symbol": entity.currency_symbol,
                "currency_base_unit": 100,
                "workspace_id": project.ws_key,
                "story_id": d.story.key,
                "user_id": user_key,
                "role_id": role_key,
                "approved": d.approved,
                "is_invoiced": False,
                "invoice_id": None,
                "active_submission_id": d.active,
                "recent_submission_id": d.recent,
                "taxable": False,
                "user_can_edit": not d.approved,
                "location": None,
                "external_reference_ids": [],
                "created_at": kantata(d.created),
                "updated_at": kantata(d.updated),
            }
            if d.overrides:
                data.update(d.overrides)
            if d.spec is not None:
                note = self._note(worker, d, data, overfull.get(d.day, []))
                self.manifest.add(d.spec.defect, data["id"], note)
            yield RecordRow("time_entries", d.id, data, created_at=d.created, updated_at=d.updated)
        for submission in submissions:
            yield submission.row("timesheet_submissions", "time_entry_ids", user_key)

    def _note(self, worker: Worker, d: _Draft, data: dict[str, Any], overfull: list[int]) -> str:
        """The manifest note of a planted time entry: what exactly is wrong."""
        assert d.spec is not None and d.project.rate_card is not None
        project, card = d.project, d.project.rate_card
        field = next(iter(d.overrides or {"": None}))
        return _NOTES[d.spec.defect.name].format(
            ws=project.ws_key,
            title=project.title,
            closed=project.end,
            day=d.day,
            month=f"{d.day:%b %Y}",
            employee=worker.employee_id,
            terminated=worker.termination_date,
            cost_start=worker.cost_start,
            user=worker.user_id,
            minutes=d.minutes,
            day_total=sum(overfull),
            day_entries=len(overfull),
            as_of=self.p.as_of,
            original=d.original.id if d.original else None,
            currency=data["currency"],
            ws_currency=project.entity.currency,
            rate=d.rate,
            card=card.id,
            card_rate=card.rates_on(d.day)[worker.role.id],
            role=worker.role.name,
            field=field,
            value=data.get(field),
            notes=d.notes,
        )

    # --- expenses ------------------------------------------------------------------------

    def _expense_rows(
        self, rng: Random, worker: Worker, specs: list[DefectSpec]
    ) -> Iterator[RecordRow]:
        drafts: list[_ExpenseDraft] = []
        whole = int(self.expenses_per_worker)
        count = whole + (rng.random() < self.expenses_per_worker - whole)
        entity = worker.entity
        for _ in range(count if worker.days else 0):
            day = rng.choice(worker.days)
            project = worker.projects[0][0]
            if len(worker.projects) > 1 and rng.random() >= worker.projects[0][1]:
                project = worker.projects[1][0]
            category = rng.choices(EXPENSE_CATEGORIES, _CATEGORY_WEIGHTS)[0]
            low, high = category.amount_cents
            amount = round(rng.randint(low, high) * entity.rate_factor)
            draft = self._expense(rng, worker, day, project, category=category, amount=amount)
            if amount > RECEIPT_THRESHOLD_CENTS or rng.random() < 0.6:
                draft.receipt = str(self.receipt_ids())
            drafts.append(draft)
        for spec in specs:
            project, _ = spec.targets[0]
            if spec.defect is EXPENSE_NO_CATEGORY:
                amount = rng.randint(1500, 6000)
                draft = self._expense(rng, worker, spec.day, project, category=None, amount=amount)
                draft.receipt = str(self.receipt_ids())
            else:
                category = EXPENSE_CATEGORIES[spec.variant % 2]
                amount = rng.randint(RECEIPT_THRESHOLD_CENTS + 500, 45_000)
                draft = self._expense(
                    rng, worker, spec.day, project, category=category, amount=amount
                )
            draft.spec, draft.forced = spec, True
            drafts.append(draft)
        drafts.sort(key=lambda d: d.day)
        for draft in drafts:
            draft.id = self.expense_ids()
        reports = self._approve(rng, worker, drafts, "expenses", self.report_ids)
        user_key, role_key = str(worker.user_id), str(worker.role.id)
        kantata = dates.kantata_time
        for d in drafts:
            project = d.project
            data = {
                "id": str(d.id),
                "date": d.day.isoformat(),
                "amount_in_cents": d.amount,
                "category": d.category.name if d.category else None,
                "expense_category_id": str(d.category.id) if d.category else None,
                "notes": d.notes,
                "is_billable": d.billable,
                "reimbursable": d.reimbursable,
                "is_invoiced": False,
                "currency": project.entity.currency,
                "currency_symbol": project.entity.currency_symbol,
                "workspace_id": project.ws_key,
                "user_id": user_key,
                "story_id": d.story.key,
                "role_id": role_key,
                "vendor_id": None,
                "receipt_id": d.receipt,
                "approved": d.approved,
                "active_submission_id": d.active,
                "created_at": kantata(d.created),
                "updated_at": kantata(d.updated),
            }
            if d.spec is not None:
                amount = f"{d.amount / 100:.2f} {project.entity.currency}"
                if d.spec.defect is EXPENSE_NO_CATEGORY:
                    note = f"expense of {amount} has no category"
                else:
                    note = f"expense of {amount} is over the 75.00 receipt threshold, no receipt_id"
                self.manifest.add(d.spec.defect, data["id"], note)
            yield RecordRow("expenses", d.id, data, created_at=d.created, updated_at=d.updated)
        for report in reports:
            title = f"Expenses week of {report.week.isoformat()}"
            yield report.row("expense_report_submissions", "expense_ids", user_key, title=title)

    def _expense(
        self,
        rng: Random,
        worker: Worker,
        day: date,
        project: Project,
        *,
        category: ExpenseCategory | None,
        amount: int,
    ) -> _ExpenseDraft:
        tz = worker.entity.time_zone
        keyed = day + timedelta(days=rng.randint(0, 3))
        created = min(
            dates.local(tz, keyed, rng.randint(1140, 1320), rng.randint(0, 59)), self.latest
        )
        stories = [s for s in self.started[id(project)] if s.billable]
        notes = rng.choice(category.notes) if category else "Reimbursement"
        target = (project, rng.choice(stories))
        draft = _ExpenseDraft(day, target, category, amount=amount, notes=notes, created=created)
        draft.billable = project.billing_model in ("T&M", "Retainer") and rng.random() < 0.85
        draft.reimbursable = rng.random() < 0.92
        return draft
