"""Hooks against the session's seeded sandbox, over real HTTP.

Hooks are built the way tasks build them: from Airflow connections, here set as
``AIRFLOW_CONN_*`` environment variables from the sandbox's own ``GET /_sandbox/vendors`` answer
(``ps_sync.connections.sandbox_connections``). Faults and switches go through the admin API.
Ground truth comes from the vendor's own database, never from the API under test.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from ps_sync.connections import sandbox_connections
from ps_sync.db import with_database
from ps_sync.hooks.http import RetryPolicy


class RecordingSleep:
    """A real sleep that remembers every wait it was asked for."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


@pytest.fixture
def sleeper() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def policy(sleeper: RecordingSleep) -> RetryPolicy:
    """Short backoffs (a ``Retry-After`` is still honoured exactly), waits recorded."""
    return RetryPolicy(backoff_base=0.05, backoff_cap=0.5, sleep=sleeper)


@pytest.fixture
def connections(sandbox, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set the sandbox's Airflow connections; keyword overrides change fields of one of them.

    ``connections(erp={"password": "wrong"}, erp_extra={"max_concurrency": 5})``.
    """

    def apply(**overrides: dict[str, Any]) -> None:
        for name, value in sandbox_connections(sandbox.vendors()).items():
            conn = json.loads(value)
            vendor = name.removeprefix("AIRFLOW_CONN_").removesuffix("_DEFAULT").lower()
            conn.update(overrides.get(vendor, {}))
            conn["extra"] = {**conn.get("extra", {}), **overrides.get(f"{vendor}_extra", {})}
            monkeypatch.setenv(name, json.dumps(conn))

    apply()
    return apply


@pytest.fixture
def add_fault(sandbox) -> Callable[..., str]:
    """Add a fault rule to a vendor; returns the rule id."""

    def add(vendor: str, **rule: Any) -> str:
        return sandbox.admin("POST", f"/faults/{vendor}", json=rule)["id"]

    return add


@pytest.fixture
def fault(sandbox) -> Callable[[str, str], dict[str, Any]]:
    """A fault rule with its ``matched`` and ``injected`` counters."""

    def get(vendor: str, rule_id: str) -> dict[str, Any]:
        return next(r for r in sandbox.admin("GET", f"/faults/{vendor}") if r["id"] == rule_id)

    return get


@pytest.fixture
def switches(sandbox) -> Callable[..., None]:
    """Set switches of a vendor service (reset before the next test)."""

    def set_switches(vendor: str, **values: Any) -> None:
        sandbox.admin("PATCH", f"/switches/{vendor}", json=values)

    return set_switches


@pytest.fixture
def vendor_db(sandbox, server_url: str) -> Iterator[Callable[[str], psycopg.Connection]]:
    """Read-only ground truth: a connection to a vendor's own database."""
    opened: list[psycopg.Connection] = []

    def connect(vendor: str) -> psycopg.Connection:
        url = with_database(server_url, f"{sandbox.state['prefix']}_{vendor}")
        conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()
