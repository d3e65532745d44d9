"""The local stack's environment: database URL, Airflow home, config and connections.

``make`` writes ``.local/env.sh`` with ``python -m ps_sync.devenv`` and sources it before every
command, so ``make demo``, ``make airflow`` and ``make test`` see the same configuration:

* ``PS_SYNC_DB_URL``: kept when set; otherwise a private server is started under ``.local/pg``
  and its ``ps_sync`` database is used;
* the Airflow metadata database ``<ps-sync database>_airflow`` on the same server (unless
  ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` is already set);
* ``AIRFLOW_HOME=.local/airflow``, this repository's ``dags/`` and ``plugins/``, no examples;
* connections as ``AIRFLOW_CONN_*`` variables (``ps_sync_db`` for the store). Nothing secret is
  written to the repository: the file lives under the git-ignored ``.local/``.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import psycopg

from ps_sync.db import create_database, with_database
from ps_sync.localpg import LocalPostgres, repo_root


def sqlalchemy_url(libpq_url: str, driver: str = "psycopg2") -> str:
    """Turn a ``postgresql://`` URL into a SQLAlchemy URL with an explicit driver."""
    scheme, rest = libpq_url.split("://", 1)
    if scheme not in {"postgresql", "postgres"}:
        raise ValueError(f"expected a postgresql:// URL, got {scheme}://")
    return f"postgresql+{driver}://{rest}"


def airflow_env(db_url: str, metadata_url: str, home: Path) -> dict[str, str]:
    """Airflow settings for running this repository's DAGs against ``db_url``.

    Args:
        db_url: the ps-sync store (becomes connection ``ps_sync_db``).
        metadata_url: libpq URL of Airflow's own metadata database.
        home: ``AIRFLOW_HOME``.
    """
    root = repo_root()
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(metadata_url),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW_CONN_PS_SYNC_DB": db_url,
        "PS_SYNC_DB_URL": db_url,
    }


def resolve(local_dir: Path | None = None) -> dict[str, str]:
    """Work out the local stack's environment, starting the private server if needed."""
    local = local_dir or Path(os.environ.get("PS_SYNC_LOCAL_DIR", repo_root() / ".local"))
    url = os.environ.get("PS_SYNC_DB_URL")
    if not url:
        url = LocalPostgres(local / "pg").start().url("ps_sync")
    dbname = psycopg.conninfo.conninfo_to_dict(url).get("dbname") or "postgres"
    server_url = with_database(url, "postgres")
    create_database(server_url, str(dbname))
    metadata_db = f"{dbname}_airflow"
    create_database(server_url, metadata_db)
    env = airflow_env(url, with_database(url, metadata_db), local / "airflow")
    # An operator who configured Airflow's metadata database keeps it.
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW_HOME"):
        if os.environ.get(key):
            env[key] = os.environ[key]
    # libpq conninfo strings are not URLs; keep the URL form for Airflow connections.
    if not env["PS_SYNC_DB_URL"].startswith(("postgresql://", "postgres://")):
        raise ValueError("PS_SYNC_DB_URL must be a postgresql:// URL")
    return env


def main() -> int:
    """Print ``export`` lines for a POSIX shell."""
    for key, value in sorted(resolve().items()):
        print(f"export {key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
