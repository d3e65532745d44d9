"""The local stack's environment written by make."""

from __future__ import annotations

from pathlib import Path

import pytest

from ps_sync.db import with_database
from ps_sync.devenv import airflow_env, sqlalchemy_url


def test_sqlalchemy_url_names_the_driver():
    assert sqlalchemy_url("postgresql://u:p@h:5/db") == "postgresql+psycopg2://u:p@h:5/db"
    assert sqlalchemy_url("postgres://h/db", driver="psycopg") == "postgresql+psycopg://h/db"
    with pytest.raises(ValueError, match="expected a postgresql:// URL"):
        sqlalchemy_url("mysql://h/db")


def test_with_database_keeps_credentials_and_options():
    url = "postgresql://u:s%40cret@h:5433/one?sslmode=require"
    assert with_database(url, "two") == "postgresql://u:s%40cret@h:5433/two?sslmode=require"
    assert "dbname=two" in with_database("host=h dbname=one", "two")


def test_airflow_env_points_at_this_repository_without_examples(tmp_path):
    env = airflow_env("postgresql://h/store", "postgresql://h/meta", tmp_path)
    root = Path(__file__).resolve().parents[2]
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(root / "dags")
    assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(root / "plugins")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["AIRFLOW_CONN_PS_SYNC_DB"] == "postgresql://h/store"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://h/meta"
    assert env["AIRFLOW_HOME"] == str(tmp_path)
