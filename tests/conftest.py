"""Session fixtures: real PostgreSQL databases per test run, and Airflow pointed at them.

The server is the one behind ``PS_SYNC_DB_URL`` when set (``make test`` sets it, starting a
private server under ``.local/pg`` when the user did not), otherwise the private server. Each
test session creates its own uniquely named databases and drops them at the end, so two test
runs on one server never collide and never touch the demo's data.

Environment variables are set in :func:`pytest_configure`, before any test module imports
Airflow, because Airflow reads its configuration at import time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ps_sync import db
from ps_sync.devenv import airflow_env
from ps_sync.localpg import LocalPostgres

_SESSION: dict[str, str] = {}


def _server_url() -> str:
    url = os.environ.get("PS_SYNC_DB_URL")
    if url:
        return db.with_database(url, "postgres")
    return LocalPostgres().start().url()


def pytest_configure(config: pytest.Config) -> None:
    """Create this session's databases and point ps-sync and Airflow at them."""
    if hasattr(config, "workerinput"):  # pragma: no cover - xdist workers share the controller's
        return
    server = _server_url()
    tag = uuid.uuid4().hex[:10]
    store, metadata = f"ps_sync_test_{tag}", f"ps_sync_test_{tag}_airflow"
    db.create_database(server, store, if_missing=False)
    db.create_database(server, metadata, if_missing=False)
    home = tempfile.mkdtemp(prefix="ps_sync_airflow_")
    store_url = db.with_database(server, store)
    os.environ.update(airflow_env(store_url, db.with_database(server, metadata), Path(home)))
    os.environ["PS_SYNC_TEST_SERVER_URL"] = server
    _SESSION.update(server=server, store=store, metadata=metadata, home=home)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop this session's databases and Airflow home."""
    if not _SESSION:
        return
    for name in (_SESSION["store"], _SESSION["metadata"]):
        db.drop_database(_SESSION["server"], name)
    shutil.rmtree(_SESSION["home"], ignore_errors=True)


@pytest.fixture(scope="session")
def server_url() -> str:
    """URL of the PostgreSQL server's maintenance database."""
    return _SESSION["server"]


@pytest.fixture(scope="session")
def db_url() -> str:
    """The session's ps-sync store, migrated to the latest schema."""
    url = os.environ["PS_SYNC_DB_URL"]
    db.migrate(url, applied_by="pytest")
    return url


@pytest.fixture
def make_database(server_url: str) -> Iterator[Callable[[], str]]:
    """Factory of empty databases, dropped after the test."""
    created: list[str] = []

    def make() -> str:
        name = f"ps_sync_test_{uuid.uuid4().hex[:10]}"
        db.create_database(server_url, name, if_missing=False)
        created.append(name)
        return db.with_database(server_url, name)

    yield make
    for name in created:
        db.drop_database(server_url, name)


@pytest.fixture(scope="session")
def airflow_metadata() -> dict[str, str]:
    """Airflow's metadata database for this session, migrated; returns the environment."""
    from ps_sync import runner

    runner.migrate_metadata(dict(os.environ))
    return dict(os.environ)


# Seed used by the tests' sandbox: small enough to seed in seconds, large enough to hold every
# defect class. Tests that change sandbox data call sandbox.reset() (see the `sandbox` fixture).
SANDBOX_SEED = {"seed": 42, "time_entries": 3000}


@pytest.fixture(scope="session")
def sandbox_session(server_url: str):
    """One sandbox process (all four vendors, seeded) for the whole test session."""
    from sandbox.testing import start_sandbox

    prefix = f"{_SESSION['store']}_sbx"
    proc = start_sandbox(server_url, prefix, seed=SANDBOX_SEED)
    yield proc
    proc.stop()
    proc.drop_databases(server_url)


@pytest.fixture
def sandbox(sandbox_session):
    """The session's sandbox, back in its seeded state with no faults before each test."""
    sandbox_session.reset()
    return sandbox_session
