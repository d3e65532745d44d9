"""Start and drive a sandbox from tests, the demo and benchmarks (over real HTTP)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from sandbox.faults import SandboxProtocol
from sandbox.store import RecordRow, VendorStore
from sandbox.vendor import load_vendor


class SandboxProcess:
    """A sandbox running in its own process."""

    def __init__(self, proc: subprocess.Popen, state: dict[str, Any], log: Path) -> None:
        self.proc = proc
        self.state = state
        self.log = log
        self.admin_url: str = state["admin"]
        self.urls: dict[str, str] = state["vendors"]
        self.client = httpx.Client(base_url=self.admin_url, timeout=600)

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the admin API (``path`` below ``/_sandbox``); raise on an error status."""
        response = self.client.request(method, f"/_sandbox{path}", **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"admin {method} {path}: {response.status_code} {response.text}")
        return response.json()

    def vendors(self) -> dict[str, Any]:
        """Base URLs and credentials of every vendor service."""
        return self.admin("GET", "/vendors")

    def reset(self) -> None:
        """Back to the seeded state, no faults, default switches."""
        self.admin("POST", "/reset")

    def drop_databases(self, server_url: str) -> None:
        """Drop this sandbox's databases (after :meth:`stop`)."""
        for name in [*self.urls, "admin"]:
            VendorStore(server_url, self.state["prefix"], name).drop()

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL)."""
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_sandbox(
    server_url: str,
    prefix: str,
    seed: dict[str, Any] | None = None,
    timeout: float = 900,
    vendors: list[str] | None = None,
) -> SandboxProcess:
    """Start ``python -m sandbox serve`` and wait until every server listens.

    Args:
        server_url: PostgreSQL server for the vendor databases.
        prefix: database name prefix (unique per test session).
        seed: generator parameters (seeded when the databases are empty); None = start empty.
        timeout: seconds to wait (seeding a large firm takes a while).
        vendors: serve only these vendors (default: all).
    """
    folder = Path(tempfile.mkdtemp(prefix="ps_sync_sandbox_"))
    state_file, log = folder / "state.json", folder / "sandbox.log"
    cmd = [
        sys.executable,
        "-m",
        "sandbox",
        "serve",
        "--db-url",
        server_url,
        "--prefix",
        prefix,
        "--state-file",
        str(state_file),
    ]
    cmd += ["--no-seed"] if seed is None else ["--seed", json.dumps(seed)]
    if vendors:
        cmd += ["--vendors", ",".join(vendors)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
    deadline = time.monotonic() + timeout
    while not state_file.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"sandbox exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"sandbox did not start in {timeout}s:\n{log.read_text()[-4000:]}")
        time.sleep(0.05)
    return SandboxProcess(proc, json.loads(state_file.read_text()), log)


@contextmanager
def loaded_sandbox(
    server_url: str, vendor: str, rows: Iterable[RecordRow]
) -> Iterator[SandboxProcess]:
    """A sandbox serving one vendor, holding ``rows`` as its seeded state; dropped afterwards.

    For contract tests that need known records rather than the generated firm.
    """
    proc = start_sandbox(server_url, f"ps_sync_{vendor}_{uuid.uuid4().hex[:10]}", vendors=[vendor])
    try:
        store = VendorStore(server_url, proc.state["prefix"], vendor, load_vendor(vendor).ddl)
        try:
            store.copy_records(rows)
            store.snapshot_seed()
        finally:
            store.close()
        yield proc
    finally:
        proc.stop()
        proc.drop_databases(server_url)


class ThreadedServer:
    """Serve one ASGI app on a free loopback port in a thread, with the sandbox's protocol."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, http=SandboxProtocol, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
