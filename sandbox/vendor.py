"""What every sandbox vendor service is made of.

A vendor service (``sandbox/psa.py``, ``erp.py``, ``crm.py``, ``hcm.py``) subclasses
:class:`Vendor`: it adds its routes to a FastAPI app, says how it answers throttling, expired
sessions and concurrency limits (:class:`~sandbox.faults.VendorResponses`), and names the
switches for behaviour the reference could not verify. The core wraps the app in the fault
middleware and serves it on its own port; the admin server (``sandbox/admin.py``) reaches every
vendor's store, faults and switches.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from fastapi import FastAPI
from starlette.types import ASGIApp

from sandbox.faults import FaultMiddleware, FaultRegistry, FaultRule, VendorResponses
from sandbox.store import VendorStore

# Import paths of the vendor services, loaded when a sandbox starts.
VENDORS: dict[str, str] = {
    "psa": "sandbox.psa:KantataVendor",
    "erp": "sandbox.erp:NetSuiteVendor",
    "crm": "sandbox.crm:SalesforceVendor",
    "hcm": "sandbox.hcm:WorkdayVendor",
}

# Development credentials of the local sandbox (never a real tenant's). Tests and `make demo`
# read them from the admin API and write them into Airflow connections.
DEFAULT_CREDENTIALS: dict[str, dict[str, str]] = {
    "psa": {"token": "psa-sandbox-token"},
    "erp": {
        "account_id": "1234567_SB1",
        "consumer_key": "erp-consumer-key",
        "consumer_secret": "erp-consumer-secret",
        "token_id": "erp-token-id",
        "token_secret": "erp-token-secret",
    },
    "crm": {"client_id": "crm-client-id", "client_secret": "crm-client-secret"},
    "hcm": {
        "tenant": "acme",
        "report_owner": "ISU_PSA",
        "username": "ISU_PSA",
        "password": "hcm-sandbox-password",
    },
}


@dataclass
class VendorContext:
    """Everything a vendor service needs at run time."""

    name: str
    store: VendorStore
    faults: FaultRegistry
    switches: dict[str, Any]
    credentials: dict[str, str]
    base_url: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Vendor:
    """Base class of a vendor service.

    Subclasses set :attr:`name`, :attr:`ddl` (indexes on the JSON fields they filter by),
    :attr:`default_switches`, and implement :meth:`routes` and :meth:`responses`.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    ddl: ClassVar[str] = ""
    default_switches: ClassVar[dict[str, Any]] = {}

    def __init__(self, ctx: VendorContext) -> None:
        self.ctx = ctx

    def routes(self, app: FastAPI) -> None:
        """Add the vendor API's routes."""
        raise NotImplementedError

    def responses(self) -> VendorResponses:
        """The vendor's error answers used by injected faults."""
        return VendorResponses()

    def default_faults(self) -> list[FaultRule]:
        """Rules active from start-up and after a reset (e.g. NetSuite's concurrency limit)."""
        return []

    def build_app(self) -> ASGIApp:
        """The vendor's ASGI app, wrapped in fault injection."""
        app = FastAPI(
            title=self.title or self.name, docs_url=None, redoc_url=None, openapi_url=None
        )
        self.routes(app)
        self.ctx.faults.set(self.default_faults())
        return FaultMiddleware(app, self.ctx.faults, self.responses())


def load_vendor(name: str) -> type[Vendor]:
    """Import the vendor class registered under ``name``."""
    module, _, attr = VENDORS[name].partition(":")
    return getattr(importlib.import_module(module), attr)
