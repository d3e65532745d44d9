"""The firm as Kantata OX (PSA) records: the ``data`` of each row is what the API returns."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

from sandbox.firm import dates
from sandbox.firm.billing import Invoice
from sandbox.firm.model import ACTIVE, CLOSED, LEFT, Firm
from sandbox.firm.reference import EXPENSE_CATEGORIES, KANTATA_ACCOUNT_ID, ROLES
from sandbox.firm.timesheets import TimesheetStream
from sandbox.store import RecordRow

_IN_PROGRESS = {"color": "green", "key": 310, "message": "In Progress"}
_COMPLETED = {"color": "grey", "key": 410, "message": "Completed"}


def _key(value: int | None) -> str | None:
    return None if value is None else str(value)


def kantata_records(
    firm: Firm, invoices: list[Invoice], stream: TimesheetStream
) -> Iterator[RecordRow]:
    """Every PSA record: catalogue, people, rate cards, workspaces, then the month of time."""
    p = firm.params
    kantata = dates.kantata_time
    setup = datetime.combine(dates.add_months(p.period_start, -36), time(14), UTC)
    for role in ROLES:
        yield RecordRow(
            "roles", role.id, {"id": str(role.id), "name": role.name}, None, setup, setup
        )
    for category in EXPENSE_CATEGORIES:
        yield RecordRow(
            "expense_categories",
            category.id,
            {"id": str(category.id), "name": category.name},
            None,
            setup,
            setup,
        )
    yield from _users(firm)
    for card in firm.rate_cards:
        last = card.versions[-1].created
        yield RecordRow(
            "rate_cards",
            card.id,
            {
                "id": str(card.id),
                "title": card.title,
                "currency": card.entity.currency,
                "workspace_id": _key(card.workspace_project.workspace_id)
                if card.workspace_project
                else None,
                "created_at": kantata(card.created),
                "updated_at": kantata(last),
            },
            None,
            card.created,
            last,
        )
        for version in card.versions:
            yield RecordRow(
                "rate_card_versions",
                version.id,
                {
                    "id": str(version.id),
                    "rate_card_id": str(card.id),
                    "effective_date": version.effective.isoformat(),
                    "created_at": kantata(version.created),
                    "updated_at": kantata(version.created),
                },
                None,
                version.created,
                version.created,
            )
            for role_id, row_id in version.role_row_ids.items():
                yield RecordRow(
                    "rate_card_roles",
                    row_id,
                    {
                        "id": str(row_id),
                        "rate_card_version_id": str(version.id),
                        "role_id": str(role_id),
                        "rate_in_cents": version.rates[role_id],
                    },
                    None,
                    version.created,
                    version.created,
                )
    yield from _workspaces(firm)
    yield from _invoices(firm, invoices)
    yield from stream.rows()


def _reference(
    ref_id: int, subject: tuple[str, int], target: tuple[str, str, str], at: datetime
) -> RecordRow:
    """An external reference from a Kantata subject to a record (service, model, ref) elsewhere."""
    subject_type, subject_id = subject
    service, model, ref = target
    stamp = dates.kantata_time(at)
    return RecordRow(
        "external_references",
        ref_id,
        {
            "id": str(ref_id),
            "subject_type": subject_type,
            "subject_id": str(subject_id),
            "service_name": service,
            "service_model": model,
            "service_model_ref": ref,
            "status": "synced",
            "created_at": stamp,
            "updated_at": stamp,
        },
        None,
        at,
        at,
    )


def _users(firm: Firm) -> Iterator[RecordRow]:
    kantata = dates.kantata_time
    for w in firm.workers:
        updated = w.created
        if w.kind == LEFT and w.termination_date is not None:
            updated = dates.local(w.entity.time_zone, w.termination_date, 18 * 60)
        yield RecordRow(
            "users",
            w.user_id,
            {
                "id": str(w.user_id),
                "full_name": w.full_name,
                "email_address": w.email,
                "headline": w.role.name,
                "account_id": KANTATA_ACCOUNT_ID,
                "disabled": w.kind == LEFT,
                "generic": False,
                "external_reference_ids": [str(r) for r in w.reference_ids],
                "created_at": kantata(w.created),
                "updated_at": kantata(updated),
            },
            None,
            w.created,
            updated,
        )
        subject = ("User", w.user_id)
        yield _reference(
            w.reference_ids[0], subject, ("Workday", "Worker", w.employee_id), w.created
        )
        if w.erp_id is not None:
            yield _reference(
                w.reference_ids[1], subject, ("NetSuite", "employee", str(w.erp_id)), w.created
            )


def _workspaces(firm: Firm) -> Iterator[RecordRow]:
    kantata = dates.kantata_time
    for project in firm.projects:
        if project.workspace_id is None:
            continue
        assert project.ws_created is not None and project.ws_updated is not None
        assert project.rate_card is not None
        team = [w for w, _ in project.team]
        lead = next((w for w in reversed(team) if w.role.id >= ROLES[3].id), None)
        yield RecordRow(
            "workspaces",
            project.workspace_id,
            {
                "id": project.ws_key,
                "title": project.title,
                "account_id": KANTATA_ACCOUNT_ID,
                "archived": project.archived,
                "start_date": project.start.isoformat(),
                "due_date": project.end.isoformat() if project.end else None,
                "budgeted": project.amount_cents is not None,
                "price_in_cents": project.amount_cents,
                "currency": project.entity.currency,
                "status": dict(_COMPLETED if project.kind == CLOSED else _IN_PROGRESS),
                "creator_id": str(lead.user_id) if lead else None,
                "participant_ids": [str(w.user_id) for w in team],
                "require_time_approvals": project.require_time,
                "require_expense_approvals": project.require_expense,
                "rate_card_id": str(project.rate_card.id),
                "external_reference_ids": [str(r) for r in project.reference_ids],
                "created_at": kantata(project.ws_created),
                "updated_at": kantata(project.ws_updated),
            },
            None,
            project.ws_created,
            project.ws_updated,
        )
        for story in project.stories:
            yield RecordRow(
                "stories",
                story.id,
                {
                    "id": story.key,
                    "title": story.title,
                    "workspace_id": project.ws_key,
                    "parent_id": None,
                    "story_type": story.story_type,
                    "state": story.state,
                    "billable": story.billable,
                    "archived": project.archived,
                    "start_date": project.start.isoformat(),
                    "due_date": project.end.isoformat() if project.end else None,
                    "created_at": kantata(story.created),
                    "updated_at": kantata(story.created),
                },
                None,
                story.created,
                story.created,
            )
        if project.kind in (ACTIVE, CLOSED):
            assert project.sf_id is not None
            subject = ("Workspace", project.workspace_id)
            yield _reference(
                project.reference_ids[0],
                subject,
                ("Salesforce", "Opportunity", project.sf_id),
                project.ws_created,
            )
            if project.job_id is not None:
                yield _reference(
                    project.reference_ids[1],
                    subject,
                    ("NetSuite", "job", str(project.job_id)),
                    project.ws_created + timedelta(minutes=1),
                )


def _invoices(firm: Firm, invoices: list[Invoice]) -> Iterator[RecordRow]:
    """Last month's invoices as the PSA saw them when the period opened."""
    kantata = dates.kantata_time
    opened = firm.params.period_start
    for inv in invoices:
        settled = inv.settled_before(opened)
        balance = inv.total_cents - settled
        status = "paid" if balance == 0 else "partially_paid" if settled else "unpaid"
        updates = [inv.created]
        updates += [x.created for x in inv.payments if x.day < opened]
        if inv.credit and inv.credit.day < opened:
            updates.append(inv.credit.created)
        updated = max(updates)
        yield RecordRow(
            "invoices",
            inv.psa_id,
            {
                "id": str(inv.psa_id),
                "invoice_date": inv.day.isoformat(),
                "due_date": inv.due.isoformat(),
                "status": "sent",
                "draft": False,
                "price_in_cents": inv.total_cents,
                "balance_in_cents": balance,
                "currency": inv.project.entity.currency,
                "tax_rate": 0,
                "time_entry_ids": [],
                "expense_ids": [],
                "additional_item_ids": [],
                "fixed_fee_item_ids": [],
                "workspace_ids": [inv.project.ws_key],
                "user_invoice_number": inv.number,
                "purchase_order": None,
                "payment_status": status,
                "external_reference_ids": [str(inv.reference_id)],
                "created_at": kantata(inv.created),
                "updated_at": kantata(updated),
            },
            None,
            inv.created,
            updated,
        )
        yield _reference(
            inv.reference_id,
            ("Invoice", inv.psa_id),
            ("NetSuite", "invoice", str(inv.erp_id)),
            inv.created,
        )
