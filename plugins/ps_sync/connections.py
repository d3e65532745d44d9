"""Airflow connections for the local sandbox's vendor services (the demo and the tests).

Credentials reach the hooks only through Airflow connections; for the sandbox they come from its
admin API (``GET /_sandbox/vendors``) and are handed to Airflow as ``AIRFLOW_CONN_<ID>``
environment variables in Airflow's JSON connection form.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ps_sync.hooks.erp import DEFAULT_MAX_CONCURRENCY, NetSuiteHook
from ps_sync.hooks.hcm_raas import HCM_CONN_ID
from ps_sync.hooks.psa import KantataHook


def _env_name(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def sandbox_connections(vendors: Mapping[str, Any]) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` values for the sandbox vendors ps-sync has hooks for.

    Args:
        vendors: the admin API's ``GET /_sandbox/vendors`` answer,
            ``{name: {"base_url": ..., "credentials": {...}}}``. Vendors missing from it (a
            sandbox serving only some) get no connection.

    Returns:
        Environment variable → JSON connection: ``AIRFLOW_CONN_PSA_DEFAULT`` (Kantata),
        ``AIRFLOW_CONN_ERP_DEFAULT`` (NetSuite) and ``AIRFLOW_CONN_HCM_DEFAULT`` (Workday RaaS),
        for the vendors present.
    """
    env: dict[str, str] = {}
    if "psa" in vendors:
        psa = vendors["psa"]
        env[_env_name(KantataHook.default_conn_name)] = json.dumps(
            {
                "conn_type": KantataHook.conn_type,
                "host": psa["base_url"].rstrip("/") + "/api/v1",
                "password": psa["credentials"]["token"],
            }
        )
    if "erp" in vendors:
        erp = vendors["erp"]
        creds = erp["credentials"]
        env[_env_name(NetSuiteHook.default_conn_name)] = json.dumps(
            {
                "conn_type": NetSuiteHook.conn_type,
                "host": erp["base_url"].rstrip("/"),
                "login": creds["consumer_key"],
                "password": creds["consumer_secret"],
                "extra": {
                    "account_id": creds["account_id"],
                    "token_id": creds["token_id"],
                    "token_secret": creds["token_secret"],
                    "max_concurrency": DEFAULT_MAX_CONCURRENCY,
                },
            }
        )
    if "hcm" in vendors:
        hcm = vendors["hcm"]
        creds = hcm["credentials"]
        env[_env_name(HCM_CONN_ID)] = json.dumps(
            {
                "conn_type": "workday",
                "host": hcm["base_url"].rstrip("/"),
                "login": creds["username"],
                "password": creds["password"],
                "extra": {"tenant": creds["tenant"], "report_owner": creds["report_owner"]},
            }
        )
    return env
