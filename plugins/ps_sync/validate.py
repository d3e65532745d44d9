"""Validate a staged batch of PSA time entries or expenses (approved-time-expense.md §2-3, §7).

One transaction, set-based, over the *current* version of every record the stage batch
extracted (the latest staged version per source id):

1. ``include/sql/validate/<entity>/_current.sql`` parses the versions once into a typed
   temporary table ``_current`` with the reference they are checked against (project, legal
   entity, worker, the cost rate and accounting period of the work date). A version older than
   the record's current version in core (a re-run of an old batch) is taken out as *stale*.
2. Every rule of the entity in ``include/sql/validate/rules.yaml`` runs its own file
   (``<entity>/<rule_id>.sql``, loaded by name), selecting the offending ``staging_id`` and the
   facts its reason template names.
3. A record with any error is held, otherwise accepted: ``ops.exception`` gets one open row per
   record and rule (refreshed, never duplicated, when the rule fires again; resolved when it no
   longer does), ``core.time_entry`` / ``core.expense`` one typed row per current version
   (older versions become ``superseded``).
4. Control totals (count, minutes, amount per currency) are checked: accepted + held + stale =
   extracted, or the transaction is rolled back. The validate batch is closed with them.

Values are always bound; SQL comes only from the repository's files.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import yaml
from psycopg import sql

from ps_sync.batches import close_batch

log = logging.getLogger(__name__)

SQL_DIR = Path(__file__).resolve().parents[2] / "include" / "sql" / "validate"
RULES_FILE = SQL_DIR / "rules.yaml"
# Entity → the source system its records are staged from.
ENTITIES: Mapping[str, str] = {"time_entries": "psa", "expenses": "psa"}
SEVERITIES = ("error", "warning")
# Splits a reason template into placeholders (group 1) and literal text (group 2), in SQL.
PLACEHOLDER_PATTERN = r"\{([a-z_]+)\}|([^{]+|\{)"
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
_RULE_ID = re.compile(r"[A-Z][A-Z0-9_]{2,63}")
BUCKETS = ("extracted", "accepted", "held", "stale")


class RulesError(ValueError):
    """``rules.yaml`` or a rule file is wrong; the message names the rule and the problem."""


class ControlTotalsError(RuntimeError):
    """Accepted + held + stale differ from what the batch extracted: nothing was written."""


@dataclass(frozen=True)
class Rule:
    """One validation rule.

    Attributes:
        rule_id: e.g. ``TE_CLOSED_PERIOD`` (the sandbox manifest's ids).
        entity: ``time_entries`` or ``expenses``.
        severity: ``error`` (the record is held) or ``warning`` (it passes, flagged).
        reason: the reason template; ``{name}`` is the rule row's column ``name``.
        remediation: what a finance user does about it.
        sql: the rule's query (``<entity>/<rule_id in lower case>.sql``).
    """

    rule_id: str
    entity: str
    severity: str
    reason: str
    remediation: str
    sql: str


def _rule(rule_id: Any, spec: Any, directory: Path) -> tuple[Rule | None, list[str]]:
    if not isinstance(rule_id, str) or not _RULE_ID.fullmatch(rule_id):
        return None, [f"{rule_id!r}: a rule id is upper-case letters, digits and '_'"]
    if not isinstance(spec, dict):
        return None, [f"{rule_id}: should be a mapping with entity, severity, reason, remediation"]
    problems = []
    unknown = sorted(set(spec) - {"entity", "severity", "reason", "remediation"})
    if unknown:
        problems.append(f"{rule_id}: unknown keys {', '.join(map(str, unknown))}")
    entity, severity = spec.get("entity"), spec.get("severity")
    if entity not in ENTITIES:
        problems.append(f"{rule_id}: entity {entity!r} is not one of {', '.join(ENTITIES)}")
    if severity not in SEVERITIES:
        problems.append(f"{rule_id}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    texts = {key: spec.get(key) for key in ("reason", "remediation")}
    for key, text in texts.items():
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{rule_id}: {key} should be non-empty text")
    reason = texts["reason"]
    if isinstance(reason, str) and re.search(r"[{}]", _PLACEHOLDER.sub("", reason)):
        problems.append(f"{rule_id}: reason has a brace that is not a {{lower_case}} placeholder")
    path = directory / str(entity) / f"{rule_id.lower()}.sql"
    if entity in ENTITIES and not path.is_file():
        problems.append(f"{rule_id}: its query {path} is missing")
    if problems:
        return None, problems
    text = path.read_text(encoding="utf-8").strip().removesuffix(";")
    return Rule(rule_id, entity, severity, reason.strip(), texts["remediation"].strip(), text), []


def load_rules(path: Path = RULES_FILE) -> dict[str, Rule]:
    """Read ``rules.yaml`` and every rule's query, checked.

    Args:
        path: the rules file; rule queries are in ``<its folder>/<entity>/<rule_id>.sql``.

    Returns:
        The rules by id, in the file's order.

    Raises:
        RulesError: every problem found (unknown entity or severity, empty reason or
            remediation, a missing query file, a query file no rule names).
    """
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    entries = document.get("rules") if isinstance(document, dict) else None
    if not isinstance(entries, dict):
        raise RulesError(f"{path}: should be a mapping with a 'rules' mapping")
    rules: dict[str, Rule] = {}
    problems: list[str] = []
    for rule_id, spec in entries.items():
        rule, found = _rule(rule_id, spec, path.parent)
        problems.extend(found)
        if rule is not None:
            rules[rule.rule_id] = rule
    named = {(r.entity, r.rule_id.lower()) for r in rules.values()}
    for entity in ENTITIES:
        for query in sorted((path.parent / entity).glob("[!_]*.sql")):
            if (entity, query.stem) not in named:
                problems.append(f"{query}: no rule in {path.name} runs this query")
    if problems:
        raise RulesError(f"{len(problems)} problem(s) in {path}:\n" + "\n".join(problems))
    return rules


@dataclass(frozen=True)
class Totals:
    """Count, Σ minutes and Σ amount of a set of records in one currency."""

    count: int = 0
    minutes: int = 0
    amount: Decimal = Decimal("0.00")

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.count + other.count, self.minutes + other.minutes, self.amount + other.amount
        )


@dataclass(frozen=True)
class ValidateResult:
    """What one validation did (its control totals go to ``ops.batch`` and XCom).

    Attributes:
        batch_id: the validate batch.
        stage_batch_id: the stage batch validated.
        entity: ``time_entries`` or ``expenses``.
        accepted: current versions accepted.
        held: current versions held (at least one error).
        stale: versions older than the record's current version in core, left alone.
        older_versions: versions the batch extracted that a later version in the same batch
            replaced.
        by_rule: records each rule fired on.
        totals: bucket (``extracted``, ``accepted``, ``held``, ``stale``) → currency → totals.
            Amounts: expenses their amount; time entries their billable value at their own
            rate (minutes x rate_in_cents / 6000; 0 when not billable).
        seconds: time the validation took.
    """

    batch_id: int
    stage_batch_id: int
    entity: str
    accepted: int
    held: int
    stale: int
    older_versions: int
    by_rule: dict[str, int]
    totals: dict[str, dict[str, Totals]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def extracted(self) -> int:
        """Distinct records (current versions) the stage batch extracted."""
        return self.accepted + self.held + self.stale

    def control_totals(self) -> dict[str, Any]:
        """The result as JSON-safe control totals (amounts as decimal strings)."""
        return {
            "stage_batch_id": self.stage_batch_id,
            "entity": self.entity,
            "extracted": self.extracted,
            "accepted": self.accepted,
            "held": self.held,
            "stale": self.stale,
            "older_versions": self.older_versions,
            "by_rule": dict(self.by_rule),
            "totals": {
                bucket: {
                    currency: {"count": t.count, "minutes": t.minutes, "amount": str(t.amount)}
                    for currency, t in sorted(per_currency.items())
                }
                for bucket, per_currency in self.totals.items()
            },
        }


def _read(*parts: str) -> str:
    return SQL_DIR.joinpath(*parts).with_suffix(".sql").read_text(encoding="utf-8")


def _totals(rows: list[tuple[Any, ...]]) -> dict[str, dict[str, Totals]]:
    """Rows ``(bucket, currency, count, minutes, amount)`` as bucket → currency → totals."""
    out: dict[str, dict[str, Totals]] = {}
    for bucket, currency, count, minutes, amount in rows:
        per = out.setdefault(str(bucket), {})
        per[currency] = per.get(currency, Totals()) + Totals(
            int(count), int(minutes), Decimal(amount)
        )
    return out


def _sum(*parts: Mapping[str, Totals]) -> dict[str, Totals]:
    """Totals per currency added up over ``parts``."""
    out: dict[str, Totals] = {}
    for part in parts:
        for currency, totals in part.items():
            out[currency] = out.get(currency, Totals()) + totals
    return out


def _resolved_by(task: Mapping[str, Any] | None) -> str:
    if not task:
        return "ps-sync validate"
    return (
        f"ps-sync validate: {task.get('dag_id')}.{task.get('task_id')} "
        f"run {task.get('run_id')} try {task.get('try_number')}"
    )


def validate_batch(
    conn: psycopg.Connection,
    *,
    stage_batch_id: int,
    entity: str,
    batch_id: int,
    task: Mapping[str, Any] | None = None,
    as_of: date | None = None,
) -> ValidateResult:
    """Validate the current versions a stage batch extracted, in one transaction.

    Args:
        conn: a psycopg connection. The work is one transaction, committed on return (a
            savepoint of the caller's transaction when one is open, e.g. a dry run).
        stage_batch_id: the ``ops.batch`` that staged the records.
        entity: ``time_entries`` or ``expenses``.
        batch_id: this validation's ``ops.batch`` (opened by the caller; closed here as
            ``succeeded`` with the control totals, in the same transaction as the data).
        task: ``dag_id``, ``run_id``, ``task_id``, ``try_number`` of the Airflow task, named
            on the exceptions it resolves.
        as_of: the date after which work is in the future (TE_FUTURE_DATE); default today in
            each legal entity's time zone.

    Returns:
        Accepted, held and stale counts, records per rule, and control totals.

    Raises:
        ValueError: unknown entity.
        RulesError: the rules file or a rule query is wrong.
        ControlTotalsError: accepted + held + stale do not tie out to extracted (rolled back).
    """
    if entity not in ENTITIES:
        raise ValueError(f"entity must be one of {', '.join(ENTITIES)}, got {entity!r}")
    rules = [rule for rule in load_rules().values() if rule.entity == entity]
    params: dict[str, Any] = {
        "stage_batch_id": stage_batch_id,
        "batch_id": batch_id,
        "source_system": ENTITIES[entity],
        "entity": entity,
        "as_of": as_of,
        "rule_ids": [rule.rule_id for rule in rules],
        "resolved_by": _resolved_by(task),
    }
    hits = _read("_hits")
    started = time.perf_counter()
    with conn.transaction():
        conn.execute(_read(entity, "_analyze"))
        conn.execute(_read(entity, "_current"), params)
        conn.execute(_read("_analyze_current"))
        versions = conn.execute(_read("_versions"), params).fetchone()
        stale_rows = conn.execute(_read(entity, "_stale")).fetchall()
        conn.execute(_read("_hits_table"))
        for rule in rules:
            conn.execute(
                sql.SQL(hits).format(rule=sql.SQL(rule.sql)),
                {
                    "rule_id": rule.rule_id,
                    "severity": rule.severity,
                    "remediation": rule.remediation,
                    "reason": rule.reason,
                    "placeholder": PLACEHOLDER_PATTERN,
                },
            )
        conn.execute(_read("_outcome"))
        conn.execute(_read(entity, "_supersede"))
        conn.execute(_read(entity, "_write"), params)
        conn.execute(_read("_exceptions"), params)
        conn.execute(_read("_resolve"), params)
        by_rule = dict(conn.execute(_read("_by_rule")).fetchall())
        totals = _totals(conn.execute(_read(entity, "_totals")).fetchall() + stale_rows)
        current = totals.pop("current", {})
        outcome = _sum(totals.get("accepted", {}), totals.get("held", {}))
        if outcome != current:
            raise ControlTotalsError(
                f"validate {entity} of stage batch {stage_batch_id}: accepted + held {outcome} "
                f"do not equal the batch's current versions {current}; nothing was written"
            )
        totals["extracted"] = _sum(current, totals.get("stale", {}))
        count = {b: sum(t.count for t in totals.get(b, {}).values()) for b in BUCKETS}
        result = ValidateResult(
            batch_id=batch_id,
            stage_batch_id=stage_batch_id,
            entity=entity,
            accepted=count["accepted"],
            held=count["held"],
            stale=count["stale"],
            older_versions=(versions[0] if versions else 0) - count["extracted"],
            by_rule={str(rule): int(n) for rule, n in sorted(by_rule.items())},
            totals={b: totals.get(b, {}) for b in BUCKETS},
            seconds=time.perf_counter() - started,
        )
        close_batch(conn, batch_id, status="succeeded", control_totals=result.control_totals())
        conn.execute(_read("_cleanup"))
    log.info(
        "validate %s: stage batch %d, %d records: %d accepted, %d held, %d stale in %.2fs "
        "(%.0f records/s); held by rule: %s",
        entity,
        stage_batch_id,
        result.extracted,
        result.accepted,
        result.held,
        result.stale,
        result.seconds,
        result.extracted / result.seconds if result.seconds else 0.0,
        ", ".join(f"{rule} {n}" for rule, n in result.by_rule.items()) or "none",
    )
    return result
