"""Defaults every ps-sync DAG starts from, so owners, retries and alerting stay uniform."""

from __future__ import annotations

from datetime import timedelta

import pendulum

OWNER = "data-eng"
# A fixed date in the past: DAGs never compute their start from the clock at parse time.
START_DATE = pendulum.datetime(2026, 1, 1, tz="UTC")

DEFAULT_ARGS: dict[str, object] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}
