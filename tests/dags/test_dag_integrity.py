"""Every DAG in dags/ follows the policy (ps_sync.policy): a data engineer's new DAG included."""

from __future__ import annotations

from pathlib import Path

from ps_sync import policy

DAGS = Path(__file__).resolve().parents[2] / "dags"


def test_every_dag_file_follows_the_policy():
    files = policy.dag_files(DAGS)
    assert files, "dags/ holds no DAG file"
    report = policy.check([DAGS])
    assert [str(v) for v in report.violations] == []
    # Each file was imported, timed and held to the parse budget.
    assert set(report.parse_seconds) == {str(f) for f in files}
    assert max(report.parse_seconds.values()) < policy.PARSE_BUDGET_SECONDS
