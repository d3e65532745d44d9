"""DAG policy: the rules every DAG file in ``dags/`` must follow.

A data engineer who adds a DAG gets the same checks the tests run::

    python -m ps_sync.policy dags/            # exit 1 and one line per violation

Each violation names the file, the rule and what to change. The rules:

``import``          the file imports without error.
``one-dag``         exactly one DAG per file, and its dag_id equals the file stem.
``owner``           every task has an owner other than Airflow's default ``airflow``.
``tags``            at least one tag, all from :data:`TAG_VOCABULARY`.
``retries``         every task retries at least once.
``schedule``        the DAG call passes ``schedule=`` explicitly (``None`` for manual DAGs).
``doc_md``          the DAG has documentation (``doc_md=__doc__``).
``no-io``           nothing touches the network, a database, a subprocess, Variables,
                    Connections or the clock while the file is parsed.
``parse-time``      the file parses within :data:`PARSE_BUDGET_SECONDS` (after Airflow's own
                    imports are warm).
``airflow3``        no Airflow 2 idioms (``schedule_interval``, ``execution_date``,
                    ``airflow.decorators``, ``DummyOperator``, ``sla``, ``days_ago``, ...).

Files are imported in a separate Python process, with network, subprocess and file-write
functions replaced by guards, so a DAG under test cannot reach anything.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

TAG_VOCABULARY: frozenset[str] = frozenset(
    {
        # systems
        "psa",
        "erp",
        "crm",
        "hcm",
        "warehouse",
        # workflows
        "master-data",
        "time-expense",
        "invoicing",
        "close",
        "analytics",
        "replay",
        # kinds of DAG
        "finance",
        "ops",
        "maintenance",
        "example",
    }
)
PARSE_BUDGET_SECONDS = float(os.environ.get("PS_SYNC_DAG_PARSE_BUDGET", "1.0"))

RULES: dict[str, str] = {
    "import": "the file must import without error",
    "one-dag": "one DAG per file, dag_id == file stem",
    "owner": "every task needs an owner (default_args={'owner': 'data-eng'}), not 'airflow'",
    "tags": f"tags must be non-empty and from {sorted(TAG_VOCABULARY)}",
    "retries": "every task needs retries >= 1 (default_args={'retries': 2})",
    "schedule": "pass schedule= explicitly to the DAG (None for manual-only DAGs)",
    "doc_md": "set doc_md (e.g. doc_md=__doc__ with a module docstring)",
    "no-io": "no network, database, subprocess, Variable/Connection or clock at parse time",
    "parse-time": f"the file must parse in under {PARSE_BUDGET_SECONDS:.2f} s",
    "airflow3": "no Airflow 2 idioms",
}

# Names, attributes and keywords that Airflow 3 removed or renamed.
_AIRFLOW2_NAMES = {
    "schedule_interval": "use schedule=",
    "execution_date": "use logical_date (or the data interval)",
    "next_execution_date": "use data_interval_end",
    "prev_execution_date": "use prev_data_interval_start_success",
    "DummyOperator": "use EmptyOperator from airflow.providers.standard",
    "days_ago": "use a fixed pendulum.datetime start_date",
    "sla": "use deadline=DeadlineAlert(...)",
    "sla_miss_callback": "use deadline=DeadlineAlert(...)",
    "provide_context": "context is always provided; drop the argument",
    "concurrency": "use max_active_tasks",
    "SubDagOperator": "use TaskGroups",
}
_AIRFLOW2_MODULES = {
    "airflow.decorators": "import dag/task from airflow.sdk",
    "airflow.models.dag": "import DAG from airflow.sdk",
    "airflow.operators": "import operators from airflow.providers.standard",
    "airflow.sensors": "import sensors from airflow.providers.standard",
    "airflow.utils.dates": "use pendulum",
    "airflow.datasets": "use airflow.sdk Asset",
}
_CLOCK_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("pendulum", "now"),
    ("pendulum", "today"),
    ("time", "time"),
    ("Variable", "get"),
    ("BaseHook", "get_connection"),
    ("Connection", "get_connection_from_secrets"),
}


@dataclass(frozen=True)
class Violation:
    """One broken rule in one file."""

    file: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: [{self.rule}] {self.message}"


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _module_level_nodes(tree: ast.Module) -> list[ast.AST]:
    """All nodes evaluated when the module is imported (function bodies excluded)."""
    out: list[ast.AST] = []

    def visit(node: ast.AST) -> None:
        out.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                visit(deco)
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    visit(default)
            return
        if isinstance(node, ast.Lambda):
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _idioms(node: ast.AST) -> list[str]:
    """Airflow 2 idioms found in one node, as messages."""
    out: list[str] = []
    if isinstance(node, ast.ImportFrom | ast.Import):
        modules = (
            [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else [a.name for a in node.names]
        )
        for module in modules:
            out += [
                f"line {node.lineno}: import from {module}: {fix}"
                for legacy, fix in _AIRFLOW2_MODULES.items()
                if module == legacy or module.startswith(legacy + ".")
            ]
        from_airflow = isinstance(node, ast.ImportFrom) and node.module == "airflow"
        if from_airflow and any(alias.name == "DAG" for alias in node.names):
            out.append(f"line {node.lineno}: 'from airflow import DAG': use airflow.sdk")
    elif isinstance(node, ast.keyword) and node.arg in _AIRFLOW2_NAMES:
        out.append(f"argument {node.arg}=: {_AIRFLOW2_NAMES[node.arg]}")
    elif isinstance(node, ast.Name | ast.Attribute):
        ident = node.id if isinstance(node, ast.Name) else node.attr
        # "sla" and "concurrency" are ordinary words; only their use as arguments is flagged.
        if ident in _AIRFLOW2_NAMES and ident not in {"sla", "concurrency"}:
            out.append(f"line {node.lineno}: {ident}: {_AIRFLOW2_NAMES[ident]}")
    elif (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and "execution_date" in node.value
    ):
        out.append(f"line {node.lineno}: template uses execution_date: use logical_date")
    return out


def static_checks(path: Path) -> list[Violation]:
    """Rules checked from the source text: Airflow 2 idioms, explicit schedule, clock/I-O calls."""
    name = str(path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=name)
    except SyntaxError as exc:
        return [Violation(name, "import", f"syntax error line {exc.lineno}: {exc.msg}")]
    found: list[Violation] = []

    def add(rule: str, message: str) -> None:
        violation = Violation(name, rule, message)
        if violation not in found:
            found.append(violation)

    for node in ast.walk(tree):
        for message in _idioms(node):
            add("airflow3", message)
        is_dag_call = isinstance(node, ast.Call) and _dotted(node.func).split(".")[-1] in {
            "dag",
            "DAG",
        }
        if is_dag_call and not any(kw.arg == "schedule" for kw in node.keywords):  # type: ignore[attr-defined]
            add("schedule", f"line {node.lineno}: {RULES['schedule']}")  # type: ignore[attr-defined]
    for node in _module_level_nodes(tree):
        if isinstance(node, ast.Call):
            parts = _dotted(node.func).split(".")
            if len(parts) >= 2 and (parts[-2], parts[-1]) in _CLOCK_CALLS:
                add(
                    "no-io",
                    f"line {node.lineno}: {'.'.join(parts[-2:])}() runs at parse time; "
                    "move it into a task or use a fixed value / template",
                )
    return found


# --- the import worker (runs in its own process) -------------------------------------------


class ParseTimeIOError(RuntimeError):
    """Raised by the guards when a DAG file does I/O while it is parsed."""


def _install_guards() -> None:
    import builtins  # noqa: PLC0415
    import socket  # noqa: PLC0415

    def refuse(what: str):
        def guard(*args: object, **kwargs: object) -> None:
            raise ParseTimeIOError(f"{what} at DAG parse time")

        return guard

    socket.socket.connect = refuse("network connect")  # type: ignore[method-assign]
    socket.create_connection = refuse("network connect")  # type: ignore[assignment]
    socket.getaddrinfo = refuse("DNS lookup")  # type: ignore[assignment]
    subprocess.Popen.__init__ = refuse("subprocess")  # type: ignore[method-assign]
    os.system = refuse("os.system")  # type: ignore[assignment]
    real_open = builtins.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if any(flag in str(mode) for flag in "wax+"):
            raise ParseTimeIOError(f"file write ({file}) at DAG parse time")
        return real_open(file, mode, *args, **kwargs)

    builtins.open = guarded_open  # type: ignore[assignment]


def _dag_checks(name: str, stem: str, dags: dict) -> list[Violation]:
    out: list[Violation] = []
    if len(dags) != 1:
        out.append(
            Violation(name, "one-dag", f"found {len(dags)} DAGs {sorted(dags)}; {RULES['one-dag']}")
        )
    for dag_id, dag in dags.items():
        if dag_id != stem:
            out.append(Violation(name, "one-dag", f"dag_id '{dag_id}' != file stem '{stem}'"))
        if not (dag.doc_md or "").strip():
            out.append(Violation(name, "doc_md", f"DAG '{dag_id}': {RULES['doc_md']}"))
        tags = set(dag.tags or [])
        if not tags:
            out.append(Violation(name, "tags", f"DAG '{dag_id}' has no tags; {RULES['tags']}"))
        elif tags - TAG_VOCABULARY:
            out.append(
                Violation(
                    name,
                    "tags",
                    f"DAG '{dag_id}' tags {sorted(tags - TAG_VOCABULARY)} "
                    f"are not in the vocabulary {sorted(TAG_VOCABULARY)}",
                )
            )
        if not dag.tasks:
            out.append(Violation(name, "one-dag", f"DAG '{dag_id}' has no tasks"))
        for task in dag.tasks:
            if not task.owner or task.owner == "airflow":
                out.append(
                    Violation(
                        name,
                        "owner",
                        f"task '{task.task_id}' owner is '{task.owner}'; {RULES['owner']}",
                    )
                )
            if (task.retries or 0) < 1:
                out.append(
                    Violation(
                        name,
                        "retries",
                        f"task '{task.task_id}' retries={task.retries}; {RULES['retries']}",
                    )
                )
    return out


def _worker(paths: list[str]) -> list[dict]:
    """Import each file in a guarded DagBag and check the DAGs it defines."""
    from airflow.dag_processing.dagbag import DagBag  # noqa: PLC0415
    from airflow.sdk import DAG, Asset, Param, dag, task  # noqa: F401, PLC0415

    import ps_sync  # noqa: F401, PLC0415

    _install_guards()
    results: list[dict] = []
    for raw in paths:
        path = Path(raw)
        name = str(path)
        started = time.perf_counter()
        bag = DagBag(dag_folder=str(path), safe_mode=False)
        elapsed = time.perf_counter() - started
        violations: list[Violation] = []
        for _file, error in bag.import_errors.items():
            if "ParseTimeIOError" in error:
                # The exception line ("...ParseTimeIOError: network connect at DAG parse time").
                line = next(
                    (ln for ln in reversed(error.splitlines()) if "ParseTimeIOError:" in ln), error
                )
                violations.append(Violation(name, "no-io", line.strip()))
            else:
                last = error.strip().splitlines()[-1] if error.strip() else "unknown error"
                violations.append(Violation(name, "import", last))
        if not bag.import_errors:
            violations += _dag_checks(name, path.stem, bag.dags)
        if elapsed > PARSE_BUDGET_SECONDS:
            violations.append(
                Violation(name, "parse-time", f"parsed in {elapsed:.2f} s; {RULES['parse-time']}")
            )
        results.append(
            {"file": name, "seconds": elapsed, "violations": [asdict(v) for v in violations]}
        )
    return results


def dag_files(folder: Path) -> list[Path]:
    """The DAG files in ``folder`` (every ``*.py`` except private ``_*.py`` helpers)."""
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))


@dataclass(frozen=True)
class Report:
    """Result of checking a folder."""

    violations: list[Violation]
    parse_seconds: dict[str, float]


def check(paths: list[Path]) -> Report:
    """Check DAG files (or folders of them) against every rule.

    Returns:
        All violations, and the parse time of each file.
    """
    files: list[Path] = []
    for p in paths:
        files += dag_files(p) if p.is_dir() else [p]
    violations: list[Violation] = []
    for f in files:
        violations += static_checks(f)
    if not files:
        return Report(violations, {})
    env = {
        **os.environ,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACK_DEPTH": "50",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "ps_sync.policy", "--worker", *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    marker = "PS_SYNC_POLICY_RESULT "
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(marker)]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"policy worker failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    results = json.loads(lines[-1][len(marker) :])
    seconds: dict[str, float] = {}
    for item in results:
        seconds[item["file"]] = item["seconds"]
        violations += [Violation(**v) for v in item["violations"]]
    return Report(violations, seconds)


def main(argv: list[str] | None = None) -> int:
    """Command line: check folders/files, print violations, exit 1 if any."""
    parser = argparse.ArgumentParser(
        prog="python -m ps_sync.policy", description="DAG policy check"
    )
    parser.add_argument("paths", nargs="*", default=["dags"])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print("PS_SYNC_POLICY_RESULT " + json.dumps(_worker(args.paths)))
        return 0
    report = check([Path(p) for p in args.paths])
    for file, secs in sorted(report.parse_seconds.items()):
        print(f"parsed {file} in {secs * 1000:.0f} ms")
    for violation in report.violations:
        print(violation)
    print(f"{len(report.violations)} violation(s) in {len(report.parse_seconds)} file(s)")
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
