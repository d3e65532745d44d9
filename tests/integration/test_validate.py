"""Validation of staged PSA time entries and expenses against the seeded firm's defect manifest.

The sandbox's approved records are staged over real HTTP (``KantataHook.iter_records(...,
approved=True)`` → ``stage_records``), the reference is loaded from the three vendors, and
validation must hold exactly the planted defects, each under the rule the manifest expects.
"""

from __future__ import annotations

import collections
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from ps_sync import db
from ps_sync.batches import open_batch
from ps_sync.connections import sandbox_connections
from ps_sync.hooks.erp import NetSuiteHook
from ps_sync.hooks.hcm_raas import WorkdayReportReader
from ps_sync.hooks.http import RetryPolicy
from ps_sync.hooks.psa import KantataHook
from ps_sync.mappings import load_mappings
from ps_sync.reference import load_reference
from ps_sync.staging import stage_records
from ps_sync.validate import RulesError, Totals, ValidateResult, load_rules, validate_batch

FAST = RetryPolicy(backoff_base=0.05, backoff_cap=0.2)
ENTITIES = ("time_entries", "expenses")
TASK = {
    "dag_id": "approved_time_expense",
    "run_id": "manual__1",
    "task_id": "validate",
    "try_number": 1,
}


@dataclass
class Run:
    """A ps-sync store with the sandbox's approved records staged and the reference loaded."""

    conn: psycopg.Connection
    psa: KantataHook
    as_of: date
    manifest: list[dict[str, Any]]
    stage_batches: dict[str, int]
    served: dict[str, list[dict[str, Any]]]

    def stage(self, entity: str, records: Any = None) -> int:
        batch = open_batch(
            self.conn, workflow="test", step="stage", source_system="psa", entity=entity
        )
        if records is None:
            records = self.psa.iter_records(entity, approved=True)
        stage_records(self.conn, records, batch_id=batch, source_system="psa", entity=entity)
        self.stage_batches[entity] = batch
        return batch

    def validate(self, entity: str, stage_batch: int | None = None) -> ValidateResult:
        batch = open_batch(
            self.conn, workflow="test", step="validate", source_system="psa", entity=entity
        )
        return validate_batch(
            self.conn,
            stage_batch_id=stage_batch or self.stage_batches[entity],
            entity=entity,
            batch_id=batch,
            task=TASK,
            as_of=self.as_of,
        )

    def rows(self, query: str, *params: Any) -> list[dict[str, Any]]:
        with self.conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(query, params).fetchall()

    def open_rules(self, entity: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = collections.defaultdict(set)
        for row in self.rows(
            "SELECT source_id, rule_id FROM ops.exception WHERE status = 'open' AND entity = %s",
            entity,
        ):
            found[row["source_id"]].add(row["rule_id"])
        return found

    def planted(self, entity: str) -> dict[str, str]:
        return {
            m["source_id"]: m["expected_rule"]
            for m in self.manifest
            if m["system"] == "psa" and m["record_type"] == entity
        }


def start(sandbox: Any, url: str) -> Run:
    """Migrate the store at ``url``, load the reference and stage both entities."""
    db.migrate(url)
    conn = psycopg.connect(url, autocommit=True)
    psa = KantataHook(retry_policy=FAST)
    erp, hcm = NetSuiteHook(retry_policy=FAST), WorkdayReportReader(retry_policy=FAST)
    load_reference(conn, psa=psa, erp=erp, hcm=hcm, mappings=load_mappings())
    erp.close()
    hcm.close()
    info = sandbox.admin("GET", "/seed-info")
    served = {entity: list(psa.iter_records(entity, approved=True)) for entity in ENTITIES}
    served["users"] = list(psa.iter_records("users"))
    run = Run(
        conn,
        psa,
        date.fromisoformat(info["params"]["as_of"]),
        sandbox.admin("GET", "/manifest"),
        {},
        served,
    )
    for entity in ENTITIES:
        run.stage(entity, served[entity])
    return run


@pytest.fixture(scope="module")
def seeded(sandbox_session, server_url: str) -> Iterator[tuple[Run, dict[str, ValidateResult]]]:
    """The seeded firm staged, loaded and validated once, for the checks that only read."""
    sandbox_session.reset()
    name = f"ps_sync_test_{uuid.uuid4().hex[:10]}"
    db.create_database(server_url, name, if_missing=False)
    with pytest.MonkeyPatch.context() as patch:
        for env, value in sandbox_connections(sandbox_session.vendors()).items():
            patch.setenv(env, value)
        run = start(sandbox_session, db.with_database(server_url, name))
        results = {entity: run.validate(entity) for entity in ENTITIES}
        yield run, results
    run.conn.close()
    run.psa.close()
    db.drop_database(server_url, name)


@pytest.fixture
def fresh(sandbox, make_database, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    """A new store with the (reset) sandbox staged and the reference loaded, not validated."""
    for env, value in sandbox_connections(sandbox.vendors()).items():
        monkeypatch.setenv(env, value)
    run = start(sandbox, make_database())
    yield run
    run.conn.close()
    run.psa.close()


def test_every_planted_defect_is_held_under_exactly_its_expected_rule(seeded):
    run, results = seeded
    for entity in ENTITIES:
        planted, held = run.planted(entity), run.open_rules(entity)
        for source_id, rule in planted.items():
            # A planted entry may also wait for master data (see not_in_erp_holds).
            own = held.get(source_id, set()) - {NOT_IN_ERP}
            assert own == ({rule} - {"ACCEPT"}), (entity, source_id)
        expected = collections.Counter(r for r in planted.values() if r != "ACCEPT")
        by_rule = {r: n for r, n in results[entity].by_rule.items() if r != NOT_IN_ERP}
        assert by_rule == dict(expected)
        waiting = not_in_erp_holds(run) if entity == "time_entries" else set()
        planted_held = {s for s, r in planted.items() if r != "ACCEPT"}
        assert results[entity].held == len(planted_held | waiting)
    assert {"TE_DAY_OVER_24H", "TE_DUPLICATE", "TE_MALFORMED", "EX_RECEIPT_MISSING"} <= {
        rule for result in results.values() for rule in result.by_rule
    }


def test_no_clean_record_is_held_and_the_accept_classes_are_accepted(seeded):
    run, _ = seeded
    states = {
        (r["entity"], r["source_id"]): r["state"]
        for r in run.rows(
            "SELECT 'time_entries' AS entity, source_id, state FROM core.time_entry "
            "UNION ALL SELECT 'expenses', source_id, state FROM core.expense"
        )
    }
    for entity in ENTITIES:
        planted = run.planted(entity)
        held = {s for (e, s), state in states.items() if e == entity and state == "held"}
        waiting = not_in_erp_holds(run) if entity == "time_entries" else set()
        assert held == {s for s, rule in planted.items() if rule != "ACCEPT"} | waiting
        assert all(
            states[(entity, s)] == "accepted"
            for s, r in planted.items()
            if r == "ACCEPT" and s not in waiting
        )
    assert "ACCEPT" in run.planted("time_entries").values()
    accepted = run.rows(
        "SELECT count(*) AS n, count(entity_code) AS entity, count(cost_rate) AS cost, "
        "count(posting_period_id) AS period, count(submission_id) AS approval "
        "FROM core.time_entry WHERE state = 'accepted'"
    )[0]
    assert accepted["n"] == accepted["entity"] == accepted["cost"] == accepted["period"]
    assert 0 < accepted["approval"] <= accepted["n"]


NOT_IN_ERP = "TE_NOT_IN_ERP"


def not_in_erp_holds(run: Run) -> set[str]:
    """Entries held because the ERP lacks their job or (billable) employee, each checked here.

    The seeded ERP holds jobs and employees for only part of the firm (master-data sync creates
    the rest), so this rule holds time beyond the planted defects; every such hold must name an
    entry whose workspace really has no NetSuite job or whose billable worker has no employee.
    """
    rows = run.rows(
        "SELECT e.source_id, t.billable, p.erp_job_id, p.crm_opportunity_id, w.erp_employee_id "
        "FROM ops.exception e "
        "JOIN core.time_entry t ON t.source_id = e.source_id AND t.state = 'held' "
        "JOIN core.project p ON p.psa_workspace_id = t.psa_workspace_id "
        "JOIN core.worker w ON w.psa_user_id = t.psa_user_id "
        "WHERE e.rule_id = %s AND e.status = 'open'",
        NOT_IN_ERP,
    )
    for r in rows:
        no_job = r["erp_job_id"] is None and r["crm_opportunity_id"] is not None
        assert no_job or (r["billable"] and r["erp_employee_id"] is None), r
    return {r["source_id"] for r in rows}


def expected_totals(records: list[dict[str, Any]], entity: str) -> dict[str, Totals]:
    """Control totals computed here, independently of the SQL, from the records as served."""
    out: dict[str, Totals] = {}
    for r in records:
        currency = r["currency"] if len(str(r.get("currency") or "")) == 3 else "XXX"
        if entity == "expenses":
            add = Totals(1, 0, Decimal(r["amount_in_cents"]) / 100)
        else:
            minutes = r["time_in_minutes"] if isinstance(r["time_in_minutes"], int) else 0
            value = Decimal(minutes * r["rate_in_cents"]) / 6000 if minutes else Decimal(0)
            amount = value.quantize(Decimal("0.01"), ROUND_HALF_UP) if r["billable"] else 0
            add = Totals(1, minutes, amount)
        out[currency] = out.get(currency, Totals()) + add
    return out


def test_accepted_plus_held_equal_extracted_in_count_minutes_and_amount(seeded):
    run, results = seeded
    for entity, result in results.items():
        served = run.served[entity]
        assert result.extracted == result.accepted + result.held == len(served)
        assert result.totals["extracted"] == expected_totals(served, entity)
        combined: dict[str, Totals] = {}
        for bucket in ("accepted", "held"):
            for currency, totals in result.totals[bucket].items():
                combined[currency] = combined.get(currency, Totals()) + totals
        assert combined == result.totals["extracted"]
        (batch,) = run.rows(
            "SELECT status, control_totals FROM ops.batch WHERE batch_id = %s", result.batch_id
        )
        assert batch["status"] == "succeeded"
        assert batch["control_totals"] == json.loads(json.dumps(result.control_totals()))
    minutes = run.rows(
        "SELECT state, sum(minutes) AS minutes FROM core.time_entry GROUP BY state ORDER BY state"
    )
    assert {r["state"]: r["minutes"] for r in minutes} == {
        "accepted": sum(t.minutes for t in results["time_entries"].totals["accepted"].values()),
        "held": sum(t.minutes for t in results["time_entries"].totals["held"].values()),
    }


def test_reasons_are_specific_and_carry_no_notes_or_personal_data(seeded):
    run, _ = seeded
    exceptions = run.rows(
        "SELECT e.rule_id, e.reason, e.remediation, e.severity, e.legal_entity, r.payload "
        "FROM ops.exception e JOIN staging.record r ON r.staging_id = e.staging_id"
    )
    rules = load_rules()
    assert exceptions
    users = run.served["users"]
    private = {u["full_name"] for u in users} | {u["email_address"] for u in users}
    private |= {
        r["notes"]
        for r in run.rows("SELECT payload ->> 'notes' AS notes FROM staging.record")
        if r["notes"] and len(r["notes"]) > 3
    }
    for e in exceptions:
        assert not any(text in e["reason"] for text in private), e["rule_id"]
        assert "{" not in e["reason"] and e["reason"] != rules[e["rule_id"]].reason
        assert e["remediation"] == rules[e["rule_id"]].remediation
        assert e["severity"] == "error" and e["legal_entity"] in ("US01", "UK01", "AU01")
    reasons = {e["rule_id"]: e["reason"] for e in exceptions}
    assert reasons["TE_INACTIVE_WORKER"].startswith("worker 2")
    assert "was terminated on" in reasons["TE_INACTIVE_WORKER"]
    assert "; work date " in reasons["TE_INACTIVE_WORKER"]


def test_revalidating_a_restaged_batch_creates_no_duplicate_open_exceptions(fresh):
    first = {entity: fresh.validate(entity) for entity in ENTITIES}
    before = fresh.rows("SELECT exception_id, first_seen_at, last_seen_at FROM ops.exception")
    for entity in ENTITIES:
        again = fresh.validate(entity, fresh.stage(entity))
        assert (again.accepted, again.held, again.by_rule) == (
            first[entity].accepted,
            first[entity].held,
            first[entity].by_rule,
        )
    after = fresh.rows(
        "SELECT exception_id, first_seen_at, last_seen_at, status FROM ops.exception"
    )
    assert len(after) == len(before)
    assert {r["exception_id"] for r in after} == {r["exception_id"] for r in before}
    seen = {r["exception_id"]: r for r in before}
    for row in after:
        assert row["status"] == "open"
        assert row["first_seen_at"] == seen[row["exception_id"]]["first_seen_at"]
        assert row["last_seen_at"] > seen[row["exception_id"]]["last_seen_at"]
    assert (
        fresh.rows("SELECT count(*) AS n FROM core.time_entry WHERE state IN ('accepted', 'held')")[
            0
        ]["n"]
        == first["time_entries"].extracted
    )


def test_a_changed_entry_supersedes_the_old_version_and_a_fix_resolves_its_exception(fresh):
    old_batch = fresh.stage_batches["time_entries"]
    fresh.validate("time_entries")
    waiting = not_in_erp_holds(fresh)
    zero = next(
        m["source_id"]
        for m in fresh.manifest
        if m["defect_class"] == "nonpositive_minutes" and m["source_id"] not in waiting
    )
    clean = fresh.rows(
        "SELECT source_id FROM core.time_entry WHERE state = 'accepted' ORDER BY source_id LIMIT 1"
    )[0]["source_id"]
    fresh.psa.update("time_entries", zero, {"time_in_minutes": 45})
    fresh.psa.update("time_entries", clean, {"time_in_minutes": 75})

    result = fresh.validate("time_entries", fresh.stage("time_entries"))
    for source_id, minutes in ((zero, 45), (clean, 75)):
        versions = fresh.rows(
            "SELECT state, minutes FROM core.time_entry WHERE source_id = %s", source_id
        )
        states = {v["state"]: v["minutes"] for v in versions}
        assert len(versions) == 2 and set(states) == {"superseded", "accepted"}
        assert states["accepted"] == minutes != states["superseded"]
    (fixed,) = fresh.rows(
        "SELECT status, resolved_by, resolution_note FROM ops.exception WHERE source_id = %s",
        zero,
    )
    assert fixed["status"] == "resolved"
    assert "approved_time_expense.validate run manual__1" in fixed["resolved_by"]
    planted_held = {s for s, rule in fresh.planted("time_entries").items() if rule != "ACCEPT"}
    assert result.held == len((planted_held - {zero}) | not_in_erp_holds(fresh))

    # A re-run of the old stage batch must not bring the old versions back.
    rerun = fresh.validate("time_entries", old_batch)
    assert rerun.stale == 2 and rerun.extracted == result.extracted
    assert rerun.accepted + rerun.held == result.extracted - 2
    current = fresh.rows(
        "SELECT source_id, minutes FROM core.time_entry "
        "WHERE source_id IN (%s, %s) AND state = 'accepted'",
        zero,
        clean,
    )
    assert {r["source_id"]: r["minutes"] for r in current} == {zero: 45, clean: 75}


def test_the_next_open_policy_posts_closed_period_time_in_the_next_open_period(fresh):
    fresh.validate("time_entries")
    closed = [m["source_id"] for m in fresh.manifest if m["defect_class"] == "closed_period"]
    assert all(fresh.open_rules("time_entries")[s] == {"TE_CLOSED_PERIOD"} for s in closed)
    fresh.conn.execute("UPDATE core.entity_map SET closed_period_policy = 'next_open'")

    result = fresh.validate("time_entries")
    assert "TE_CLOSED_PERIOD" not in result.by_rule
    entries = fresh.rows(
        "SELECT t.source_id, t.state, t.work_date, p.start_date, p.closed "
        "FROM core.time_entry t JOIN core.accounting_period p "
        "ON p.erp_period_id = t.posting_period_id "
        "WHERE t.source_id = ANY(%s) AND t.state <> 'superseded'",
        closed,
    )
    assert len(entries) == len(closed)
    first_open = fresh.rows(
        "SELECT min(start_date) AS d FROM core.accounting_period WHERE is_posting AND NOT closed"
    )[0]["d"]
    for entry in entries:
        assert entry["state"] == "accepted" and not entry["closed"]
        assert entry["start_date"] == first_open > entry["work_date"]
    statuses = fresh.rows(
        "SELECT DISTINCT status FROM ops.exception WHERE rule_id = 'TE_CLOSED_PERIOD'"
    )
    assert statuses == [{"status": "resolved"}]


def test_malformed_values_are_held_with_te_malformed_and_never_crash(fresh):
    planted = fresh.planted("time_entries") | fresh.planted("expenses")
    template = next(r for r in fresh.served["time_entries"] if r["id"] not in planted)
    bad_values = [
        {"date_performed": "2026-02-30"},
        {"date_performed": "0000-01-01"},
        {"date_performed": ""},
        {"date_performed": None},
        {"time_in_minutes": "90"},
        {"time_in_minutes": 90.5},
        {"time_in_minutes": 10**12},
        {"time_in_minutes": "Jane Doe's hours"},
        {"rate_in_cents": "abc"},
        {"billable": "yes"},
        {"currency": "usd"},
        {"workspace_id": None},
        {"notes": "before\x00after"},
    ]
    # Distinct stories and a short duration: the copies must not trip TE_DUPLICATE or
    # TE_DAY_OVER_24H, only TE_MALFORMED.
    records = [
        {
            **template,
            "time_in_minutes": 15,
            "story_id": f"9900{i}",
            **change,
            "id": str(99_000_001 + i),
        }
        for i, change in enumerate(bad_values)
    ]
    expense = next(r for r in fresh.served["expenses"] if r["id"] not in planted)
    fresh.stage("time_entries", records)
    fresh.stage("expenses", [{**expense, "id": "99100001", "amount_in_cents": "12.50"}])

    result = fresh.validate("time_entries")
    assert result.by_rule == {"TE_MALFORMED": len(records)}
    held = fresh.open_rules("time_entries")
    assert all(held[r["id"]] == {"TE_MALFORMED"} for r in records)
    reasons = {
        r["source_id"]: r["reason"]
        for r in fresh.rows("SELECT source_id, reason FROM ops.exception")
    }
    assert "'2026-02-30' is not a calendar date" in reasons["99000001"]
    assert "time_in_minutes '90' is not a whole number" in reasons["99000005"]
    assert "Jane" not in reasons["99000008"] and "(a string)" in reasons["99000008"]
    assert "NUL character" in reasons["99000013"]
    assert fresh.validate("expenses").by_rule == {"EX_MALFORMED": 1}


def test_the_rules_file_is_checked_against_its_queries(tmp_path):
    rules = load_rules()
    assert {r.entity for r in rules.values()} == set(ENTITIES)
    assert {"TE_NOT_APPROVED", "EX_NOT_APPROVED"} <= set(rules)
    (tmp_path / "time_entries").mkdir()
    (tmp_path / "time_entries" / "te_orphan.sql").write_text("SELECT 1 AS staging_id")
    (tmp_path / "rules.yaml").write_text(
        "rules:\n"
        "  TE_BROKEN:\n"
        "    entity: time_entries\n"
        "    severity: fatal\n"
        "    reason: 'worker {Employee} on {work_date}'\n"
        "    remediation: ''\n"
    )
    with pytest.raises(RulesError) as problems:
        load_rules(tmp_path / "rules.yaml")
    message = str(problems.value)
    for expected in (
        "TE_BROKEN: severity 'fatal' is not one of error, warning",
        "TE_BROKEN: remediation should be non-empty text",
        "TE_BROKEN: reason has a brace that is not a {lower_case} placeholder",
        "te_broken.sql is missing",
        "te_orphan.sql: no rule in rules.yaml runs this query",
    ):
        assert expected in message
