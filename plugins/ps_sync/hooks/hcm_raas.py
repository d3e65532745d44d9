"""A minimal reader of Workday RaaS (Report-as-a-Service) custom reports (the HCM).

A stopgap for the reference load (docs/design/approved-time-expense.md §1): the master-data work
replaces it with a full HCM hook. It reads one report at a time, whole (RaaS has no paging), as
JSON, and shares the HTTP machinery of the other hooks (retries, error classification, logs that
never carry bodies, query strings or credentials).

Connection (``hcm_default``):

=========  ==============================================================================
host       the Workday services base URL (``https://wd2-impl-services1.workday.com`` or a
           sandbox's ``http://127.0.0.1:PORT``); ``https://`` is added when no scheme is given
login      the Integration System User (ISU) name
password   the ISU password (HTTP Basic)
extra      ``tenant`` and ``report_owner`` (the user owning the reports, part of the URL);
           optional ``connect_timeout`` (10 s), ``read_timeout`` (120 s), ``max_attempts``
           (6), ``backoff_cap`` (30 s)
=========  ==============================================================================

Reports are ``GET /ccx/service/customreport2/<tenant>/<report_owner>/<report>?format=json``
with the report's prompts as query parameters; the answer is ``{"Report_Entry": [...]}``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import quote

from requests.auth import HTTPBasicAuth

from ps_sync.hooks.http import (
    ApiClient,
    ConfigurationError,
    FatalAPIError,
    RetryPolicy,
    Timeouts,
    VendorError,
    base_url_of,
    connection_extra,
    lookup_connection,
    policy_from_extra,
    require_extras,
    timeouts_from_extra,
)

log = logging.getLogger(__name__)

HCM_CONN_ID = "hcm_default"
REPORT_PATH = "/ccx/service/customreport2"
AUTH_HINT = "check the connection's login and password (the ISU) and its extra 'tenant'"
REQUIRED_EXTRAS = {
    "tenant": "the Workday tenant name, e.g. acme",
    "report_owner": "the user that owns the reports, e.g. ISU_PSA",
}


def workday_error(body: Any) -> VendorError:
    """Workday's JSON error body ``{"error": "..."}`` (SOAP faults are not JSON: no detail)."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return VendorError(None, body["error"], None)
    return VendorError()


@dataclass(frozen=True)
class _Setup:
    client: ApiClient
    reports_path: str


class WorkdayReportReader:
    """Reads Workday RaaS custom reports as lists of entries (string values, as served).

    Nothing is read in the constructor: the connection is looked up on the first report.

    Args:
        conn_id: the Airflow connection (see the module docstring for its fields).
        retry_policy: overrides the default policy (tests use short waits).
    """

    system = "Workday"

    def __init__(
        self, conn_id: str = HCM_CONN_ID, *, retry_policy: RetryPolicy | None = None
    ) -> None:
        self.conn_id = conn_id
        self._retry_policy = retry_policy

    @property
    def client(self) -> ApiClient:
        """The API client, built from the connection on first use."""
        return self._setup.client

    @cached_property
    def _setup(self) -> _Setup:
        conn_id = self.conn_id
        conn = lookup_connection(
            conn_id,
            "host = the Workday services base URL, login/password = the ISU, "
            "extra = tenant and report_owner",
        )
        if not conn.host:
            raise ConfigurationError(
                f"Connection '{conn_id}' has no host: set it to the Workday services base URL, "
                "e.g. https://wd2-impl-services1.workday.com"
            )
        if not conn.login or not conn.password:
            raise ConfigurationError(
                f"Connection '{conn_id}' needs login and password: the Integration System "
                "User's name and password"
            )
        extra = connection_extra(conn, conn_id)
        require_extras(extra, conn_id, REQUIRED_EXTRAS)
        tenant, owner = quote(str(extra["tenant"])), quote(str(extra["report_owner"]))
        client = ApiClient(
            system=self.system,
            conn_id=conn_id,
            base_url=base_url_of(conn.host, conn.port),
            auth=HTTPBasicAuth(conn.login, conn.password),
            error_parser=workday_error,
            policy=policy_from_extra(extra, conn_id, self._retry_policy or RetryPolicy()),
            timeouts=timeouts_from_extra(extra, conn_id, Timeouts(read=120.0)),
            auth_hint=AUTH_HINT,
            logger=log,
        )
        return _Setup(client, f"{REPORT_PATH}/{tenant}/{owner}")

    def report(self, name: str, **prompts: str) -> list[dict[str, Any]]:
        """Every entry of report ``name`` run with ``prompts`` (values as Workday serves them).

        Args:
            name: the report's web-service name, e.g. ``PSA_Worker_Cost_Rates``.
            **prompts: the report's prompts, e.g. ``Effective_as_of_Date="2026-10-01"``.

        Raises:
            FatalAPIError: the answer is not a ``Report_Entry`` list (or credentials, report
                name or a prompt were refused: :class:`~ps_sync.hooks.http.AuthenticationError`,
                :class:`~ps_sync.hooks.http.NotFoundError`).
            RetryableAPIError: transient failures outlasted the retry policy.
        """
        path = f"{self._setup.reports_path}/{quote(name)}"
        body = self.client.get(path, {"format": "json", **prompts})
        entries = body.get("Report_Entry") if isinstance(body, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise FatalAPIError(
                f"Workday report {name} answered something that is not a Report_Entry list",
                system=self.system,
                method="GET",
                path=path,
            )
        log.info("Workday report %s: %d entries", name, len(entries))
        return entries

    def close(self) -> None:
        """Close the HTTP session."""
        if "_setup" in self.__dict__:
            self.client.close()
