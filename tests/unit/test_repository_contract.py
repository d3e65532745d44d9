"""The repository's promises that no other test exercises: pins, CI, compose, README."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-r"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]+\])?==([^\s;]+)", line)
        assert match, f"{path.name}: '{line}' is not pinned with =="
        out[match[1].lower().replace("_", "-")] = match[3]
    return out


def test_every_requirement_is_pinned_and_locked_at_the_same_version():
    lock = pins(ROOT / "constraints.txt")
    for req_file in ("requirements.txt", "requirements-dev.txt"):
        for name, version in pins(ROOT / req_file).items():
            assert lock.get(name) == version, (
                f"{req_file}: {name}=={version}, lock has {lock.get(name)}"
            )


def test_airflow_3_3_and_its_providers_are_pinned():
    req = pins(ROOT / "requirements.txt")
    assert req["apache-airflow"].startswith("3.3.")
    for provider in ("postgres", "http", "smtp"):
        assert f"apache-airflow-providers-{provider}" in req


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^make test\b", ci, re.MULTILINE) or "make test ||" in ci
    assert "make test" in readme and "make demo" in readme


def test_compose_stack_matches_the_repository():
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    services = compose["services"]
    expected = {
        "postgres",
        "redis",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-worker",
        "airflow-triggerer",
        "airflow-init",
    }
    assert expected <= set(services)
    airflow_version = pins(ROOT / "requirements.txt")["apache-airflow"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"FROM apache/airflow:{airflow_version}-python3.11" in dockerfile
    commands = {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker": "celery worker",
    }
    for name, command in commands.items():
        service = services[name]
        assert service["command"] == command
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
        assert (
            env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
            == "http://airflow-apiserver:8080/execution/"
        )
        assert env["AIRFLOW_CONN_PS_SYNC_DB"].endswith("@postgres/ps_sync")
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        mounts = {v.split(":")[1] for v in service["volumes"]}
        assert {"/opt/airflow/dags", "/opt/airflow/plugins", "/opt/airflow/include"} <= mounts
        for volume in service["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"
    init_sql = (ROOT / "docker" / "postgres-init" / "01-databases.sql").read_text()
    assert "CREATE DATABASE ps_sync" in init_sql and "CREATE DATABASE airflow" in init_sql
    assert "ps_sync.db migrate" in " ".join(services["airflow-init"]["command"])


def test_layout_matches_the_design():
    for folder in (
        "dags",
        "plugins/ps_sync/hooks",
        "plugins/ps_sync/operators",
        "include/sql/ddl",
        "include/sql/validate",
        "include/sql/transform",
        "include/sql/reconcile",
        "include/mappings",
        "tests/unit",
        "tests/integration",
        "tests/dags",
    ):
        assert (ROOT / folder).is_dir(), folder


def test_airflow_does_not_import_the_library_as_plugin_files():
    # Airflow imports every .py file it finds under plugins/ as a top-level module named after
    # the file (plugins/ps_sync/hooks/http.py would become "http" and shadow the stdlib).
    from airflow._shared.module_loading import find_path_from_directory

    found = [
        p
        for p in find_path_from_directory(str(ROOT / "plugins"), ".airflowignore", "glob")
        if p.endswith(".py")
    ]
    assert not [p for p in found if "/ps_sync/" in p], found
