"""The private PostgreSQL server used when PS_SYNC_DB_URL is unset."""

from __future__ import annotations

import psycopg
import pytest

from ps_sync.localpg import LocalPostgres, LocalPostgresError, find_bin_dir


@pytest.fixture
def private_server(tmp_path):
    server = LocalPostgres(tmp_path / "pg")
    yield server
    server.stop()


def test_start_initialises_listens_on_loopback_and_is_reused(private_server):
    info = private_server.start()
    assert info.host == "127.0.0.1"
    with psycopg.connect(info.url()) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
        assert (
            conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0]
            >= 150000
        )
        assert conn.execute("SHOW server_encoding").fetchone()[0] == "UTF8"
    # A second start (another make target, another test run) reuses the running server.
    assert private_server.start() == info
    assert private_server.status() == info


def test_stop_then_start_keeps_the_data(private_server):
    info = private_server.start()
    with psycopg.connect(info.url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    assert private_server.stop() is True
    assert private_server.status() is None
    assert private_server.stop() is False
    again = private_server.start()
    with psycopg.connect(again.url()) as conn:
        assert conn.execute("SELECT x FROM kept").fetchone()[0] == 42


def test_a_wrong_binary_folder_fails_with_what_to_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PS_SYNC_PG_BIN", str(tmp_path))
    with pytest.raises(LocalPostgresError, match="has no pg_ctl"):
        find_bin_dir()
