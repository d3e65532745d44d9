"""What every ps-sync pipeline operator shares: the run's identity, its window, failure mapping.

Operators are thin adapters over plain functions in ``ps_sync`` (``staging``, ``validate``,
``posting``, ...) that can be tested without Airflow; this module turns Airflow's context into
their arguments and their errors into Airflow's retry or fail-fast behaviour.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pendulum
import psycopg
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from ps_sync import db
from ps_sync.hooks.http import ConfigurationError as HookConfigurationError
from ps_sync.hooks.http import FatalAPIError
from ps_sync.mappings import MappingError
from ps_sync.posting import UnpostableRecordsError

# Problems a retry cannot fix: bad credentials, bad configuration, refused requests. They fail
# the task at once with their actionable message instead of burning the retry budget.
FAIL_FAST: tuple[type[BaseException], ...] = (
    FatalAPIError,
    HookConfigurationError,
    db.ConfigurationError,
    MappingError,
    UnpostableRecordsError,
)


def task_identity(context: Any) -> dict[str, Any]:
    """``dag_id``, ``run_id``, ``task_id`` and ``try_number`` of the running task (for lineage)."""
    ti = context["ti"]
    return {
        "dag_id": ti.dag_id,
        "run_id": ti.run_id,
        "task_id": ti.task_id,
        "try_number": ti.try_number,
    }


@dataclass(frozen=True)
class Window:
    """The extraction window of a run: the data interval widened by the lookback overlap."""

    start: datetime
    end: datetime


def extraction_window(context: Any, lookback: timedelta) -> Window:
    """The window a run extracts, from its data interval and Params.

    The data interval's start moves back by ``lookback`` so that records updated while the
    previous run was reading are read again (staging makes re-reads free). A manual run may set
    the ``since`` Param (ISO date-time) to catch up from an earlier point.
    """
    start = context.get("data_interval_start") or context["logical_date"]
    end = context.get("data_interval_end") or context["logical_date"]
    since = (context.get("params") or {}).get("since")
    if since:
        start = min(start, pendulum.parse(since))
    return Window(start=start - lookback, end=end)


class PipelineOperator(BaseOperator):
    """Base of the pipeline operators: a database connection and fail-fast error mapping.

    Args:
        conn_id: Airflow connection of the ps-sync store.
    """

    ui_color = "#e8f1e4"

    def __init__(self, *, conn_id: str = "ps_sync_db", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id

    @contextlib.contextmanager
    def store(self) -> Iterator[psycopg.Connection]:
        """A connection to the ps-sync store (closed afterwards)."""
        with psycopg.connect(db.database_url(self.conn_id)) as conn:
            yield conn

    def execute(self, context: Any) -> Any:
        """Run :meth:`run`, failing fast on errors no retry can fix."""
        try:
            return self.run(context)
        except FAIL_FAST as exc:
            raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc

    def run(self, context: Any) -> Any:
        """The operator's work; subclasses implement it."""
        raise NotImplementedError


def jsonable(value: Any) -> Any:
    """Decimals and dates as strings, for XCom and the batch record."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return str(value)
