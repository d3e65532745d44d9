"""The policy check catches each kind of broken DAG and names the file and the rule."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ps_sync import policy

GOOD = '''
"""A good DAG."""
from airflow.sdk import dag, task
from ps_sync.defaults import DEFAULT_ARGS, START_DATE

@dag(schedule=None, start_date=START_DATE, default_args=DEFAULT_ARGS, tags=["ops"], doc_md=__doc__)
def {stem}():
    @task
    def say_hello():
        return 1
    say_hello()

{stem}()
'''

# One broken rule per file: (file stem, source, expected rule).
BAD = {
    "owner_default": (
        GOOD.replace("default_args=DEFAULT_ARGS", "default_args={'retries': 1}"),
        "owner",
    ),
    "tags_unknown": (GOOD.replace('tags=["ops"]', 'tags=["ops", "misc-stuff"]'), "tags"),
    "tags_missing": (GOOD.replace('tags=["ops"], ', ""), "tags"),
    "retries_zero": (
        GOOD.replace("default_args=DEFAULT_ARGS", "default_args={**DEFAULT_ARGS, 'retries': 0}"),
        "retries",
    ),
    "schedule_implicit": (GOOD.replace("schedule=None, ", ""), "schedule"),
    "doc_missing": (GOOD.replace(", doc_md=__doc__", ""), "doc_md"),
    "id_mismatch": (GOOD.replace("@dag(", "@dag(dag_id='something_else', "), "one-dag"),
    "io_network": (
        'import socket\nsocket.create_connection(("127.0.0.1", 5432))\n' + GOOD,
        "no-io",
    ),
    "io_subprocess": ('import subprocess\nsubprocess.run(["true"])\n' + GOOD, "no-io"),
    "io_clock": (
        GOOD.replace("start_date=START_DATE", "start_date=__import__('pendulum').now()").replace(
            "import dag, task", "import dag, task\nimport pendulum\nNOW = pendulum.now()"
        ),
        "no-io",
    ),
    "io_variable": (
        GOOD.replace("import dag, task", "import dag, task, Variable\nX = Variable.get('x')"),
        "no-io",
    ),
    "airflow2_decorators": (
        GOOD.replace(
            "from airflow.sdk import dag, task", "from airflow.decorators import dag, task"
        ),
        "airflow3",
    ),
    "airflow2_schedule_interval": (
        GOOD.replace("schedule=None", "schedule=None, schedule_interval=None"),
        "airflow3",
    ),
    "airflow2_template": (GOOD.replace("return 1", "return '{{ execution_date }}'"), "airflow3"),
    "import_broken": ("import ps_sync.no_such_module\n" + GOOD, "import"),
    "slow_parse": ("import time\ntime.sleep(PLACEHOLDER)\n" + GOOD, "parse-time"),
}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> policy.Report:
    folder = tmp_path_factory.mktemp("bad_dags")
    (folder / "good_dag.py").write_text(GOOD.replace("{stem}", "good_dag"))
    for stem, (source, _rule) in BAD.items():
        text = source.replace("PLACEHOLDER", str(policy.PARSE_BUDGET_SECONDS + 0.3))
        (folder / f"{stem}.py").write_text(textwrap.dedent(text).replace("{stem}", stem))
    # A private helper module is not a DAG file.
    (folder / "_helpers.py").write_text("X = 1\n")
    return policy.check([folder])


def report_folder(report: policy.Report) -> str:
    return str(Path(next(iter(report.parse_seconds))).parent)


def by_file(report: policy.Report) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for v in report.violations:
        out.setdefault(Path(v.file).stem, set()).add(v.rule)
    return out


@pytest.mark.parametrize("stem", sorted(BAD))
def test_broken_rule_is_reported_with_file_and_rule(report, stem):
    expected = BAD[stem][1]
    rules = by_file(report).get(stem, set())
    assert expected in rules, f"{stem}.py: expected [{expected}], got {rules}"
    # The printed line names the file and the rule, so a data engineer knows what to fix.
    line = next(
        str(v) for v in report.violations if Path(v.file).stem == stem and v.rule == expected
    )
    assert line.startswith(f"{report_folder(report)}/{stem}.py: [{expected}] ")


def test_the_good_dag_and_helpers_pass(report):
    files = by_file(report)
    assert "good_dag" not in files
    assert "_helpers" not in files
    assert not any(Path(f).stem == "_helpers" for f in report.parse_seconds)


def test_the_io_guard_stops_the_connection_before_it_is_made(report):
    messages = [v.message for v in report.violations if Path(v.file).stem == "io_network"]
    assert any("network connect at DAG parse time" in m for m in messages)


def test_command_line_exits_non_zero_and_prints_file_and_rule(tmp_path):
    bad = tmp_path / "no_owner.py"
    bad.write_text(BAD["owner_default"][0].replace("{stem}", "no_owner"))
    proc = subprocess.run(
        [sys.executable, "-m", "ps_sync.policy", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert f"{bad}: [owner] task 'say_hello' owner is 'airflow'" in proc.stdout
