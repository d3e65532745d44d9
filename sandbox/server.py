"""Serve the sandbox: one HTTP server per vendor plus the admin server, in one process.

``python -m sandbox serve`` (see ``sandbox/__main__.py``) calls :func:`serve`. Each vendor API
listens on its own loopback port, wrapped in fault injection; the admin API (``/_sandbox/...``)
listens on another port, kept apart from every vendor API:

==========================================  ==================================================
``GET  /_sandbox/health``                   liveness and the vendors' base URLs
``GET  /_sandbox/vendors``                  base URLs and the sandbox's own credentials
``POST /_sandbox/seed``                     generate the firm (``{"seed": 42}``)
``POST /_sandbox/reset``                    restore the seeded state; clear faults and switches
``GET  /_sandbox/counts``                   records per vendor and type
``GET  /_sandbox/posted/{vendor}``          what clients wrote (``?type=timeBill&limit=100``)
``GET  /_sandbox/manifest``                 the planted defects with their expected rules
``GET  /_sandbox/seed-info``                seed, scale, content hash, seeding time
``GET|PUT|POST|DELETE /_sandbox/faults/{vendor}``  list / replace / add / clear fault rules
``GET|PATCH /_sandbox/switches/{vendor}``   unverified behaviours, switchable at run time
==========================================  ==================================================
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import Body, FastAPI, HTTPException

from sandbox.faults import FaultRegistry, FaultRule, SandboxProtocol
from sandbox.store import VendorStore
from sandbox.vendor import DEFAULT_CREDENTIALS, VENDORS, Vendor, VendorContext, load_vendor


@dataclass
class Sandbox:
    """The running sandbox: every vendor's context and service, and the admin store."""

    vendors: dict[str, Vendor]
    admin_store: VendorStore
    admin_url: str = ""

    @property
    def contexts(self) -> dict[str, VendorContext]:
        """Vendor name → context."""
        return {name: v.ctx for name, v in self.vendors.items()}


def build(server_url: str, prefix: str, names: list[str] | None = None) -> Sandbox:
    """Create the vendor stores (databases) and services, without serving them."""
    vendors: dict[str, Vendor] = {}
    for name in names or list(VENDORS):
        cls = load_vendor(name)
        store = VendorStore(server_url, prefix, name, cls.ddl)
        store.ensure()
        ctx = VendorContext(
            name=name,
            store=store,
            faults=FaultRegistry(seed=0),
            switches=dict(cls.default_switches),
            credentials=dict(DEFAULT_CREDENTIALS[name]),
        )
        vendors[name] = cls(ctx)
    admin_store = VendorStore(server_url, prefix, "admin")
    admin_store.ensure()
    return Sandbox(vendors=vendors, admin_store=admin_store)


def content_hash(store: VendorStore) -> str:
    """An order-independent hash of every record (type, id, external id, stamps, document)."""
    with store.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n, coalesce(sum(('x' || substr(md5("
            "type || ':' || id || ':' || coalesce(external_id, '') || ':' || created_at::text "
            "|| ':' || updated_at::text || ':' || data::text), 1, 15))::bit(60)::bigint), 0) AS h "
            "FROM record"
        ).fetchone()
    return f"{row['n']}:{row['h']}"  # type: ignore[index,call-overload]


def seed_sandbox(sandbox: Sandbox, params: dict[str, Any]) -> dict[str, Any]:
    """Generate the seeded firm into every vendor store and remember the seeded state."""
    from sandbox import generator  # noqa: PLC0415 - heavy, only when seeding

    started = time.perf_counter()
    stores = {n: v.ctx.store for n, v in sandbox.vendors.items()}
    summary = generator.seed_all(stores, **params)
    for store in stores.values():
        store.snapshot_seed()
    info = {
        "params": summary.params,
        "counts": summary.counts,
        "defects": len(summary.manifest),
        "seconds": round(time.perf_counter() - started, 3),
        "content_hash": {n: content_hash(s) for n, s in stores.items()},
    }
    with sandbox.admin_store.connection() as conn:
        sandbox.admin_store.kv_put(conn, "manifest", summary.manifest)
        sandbox.admin_store.kv_put(conn, "seed_info", info)
    return info


def admin_app(sandbox: Sandbox) -> FastAPI:
    """The admin and inspection API."""
    app = FastAPI(title="ps-sync sandbox admin", docs_url=None, redoc_url=None, openapi_url=None)

    def vendor(name: str) -> Vendor:
        if name not in sandbox.vendors:
            raise HTTPException(404, f"unknown vendor {name!r}; one of {sorted(sandbox.vendors)}")
        return sandbox.vendors[name]

    @app.get("/_sandbox/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "vendors": {n: v.ctx.base_url for n, v in sandbox.vendors.items()}}

    @app.get("/_sandbox/vendors")
    def vendors() -> dict[str, Any]:
        return {
            n: {"base_url": v.ctx.base_url, "credentials": v.ctx.credentials, "title": v.title}
            for n, v in sandbox.vendors.items()
        }

    @app.post("/_sandbox/seed")
    def seed(params: dict[str, Any] = Body(default_factory=dict)) -> dict[str, Any]:  # noqa: B008
        try:
            return seed_sandbox(sandbox, params)
        except (TypeError, ValueError) as exc:  # unknown, mistyped or out-of-range parameter
            raise HTTPException(422, str(exc)) from exc

    @app.post("/_sandbox/reset")
    def reset() -> dict[str, Any]:
        for v in sandbox.vendors.values():
            v.ctx.store.reset()
            # Switches first: default fault rules (e.g. NetSuite's cap) are built from them.
            v.ctx.switches.clear()
            v.ctx.switches.update(type(v).default_switches)
            v.ctx.faults.set(v.default_faults())
            v.ctx.faults.reseed(0)
        return {"status": "reset"}

    @app.get("/_sandbox/counts")
    def counts() -> dict[str, Any]:
        return {n: v.ctx.store.counts() for n, v in sandbox.vendors.items()}

    @app.get("/_sandbox/posted/{name}")
    def posted(name: str, type: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        return vendor(name).ctx.store.writes(type, limit)

    @app.get("/_sandbox/manifest")
    def manifest() -> list[dict[str, Any]]:
        with sandbox.admin_store.connection() as conn:
            return sandbox.admin_store.kv_get(conn, "manifest") or []

    @app.get("/_sandbox/seed-info")
    def seed_info() -> dict[str, Any]:
        with sandbox.admin_store.connection() as conn:
            return sandbox.admin_store.kv_get(conn, "seed_info") or {}

    @app.get("/_sandbox/faults/{name}")
    def faults(name: str) -> list[dict[str, Any]]:
        return vendor(name).ctx.faults.describe()

    @app.put("/_sandbox/faults/{name}")
    def set_faults(name: str, rules: list[FaultRule]) -> list[dict[str, Any]]:
        vendor(name).ctx.faults.set(rules)
        return vendor(name).ctx.faults.describe()

    @app.post("/_sandbox/faults/{name}")
    def add_fault(name: str, rule: FaultRule) -> dict[str, Any]:
        return vendor(name).ctx.faults.add(rule).model_dump()

    @app.delete("/_sandbox/faults/{name}")
    def clear_faults(name: str) -> dict[str, Any]:
        vendor(name).ctx.faults.clear()
        return {"status": "cleared"}

    @app.get("/_sandbox/switches/{name}")
    def switches(name: str) -> dict[str, Any]:
        return vendor(name).ctx.switches

    @app.patch("/_sandbox/switches/{name}")
    def set_switches(name: str, values: dict[str, Any]) -> dict[str, Any]:
        v = vendor(name)
        unknown = set(values) - set(type(v).default_switches)
        if unknown:
            raise HTTPException(
                422,
                f"unknown switches {sorted(unknown)}; known: {sorted(type(v).default_switches)}",
            )
        v.ctx.switches.update(values)
        return v.ctx.switches

    return app


def _bound_socket(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only for sockets created
    # with that protocol; with 0, small keep-alive responses waited ~40 ms for delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


async def _serve_all(
    apps: dict[str, tuple[Any, socket.socket]], state_file: Path | None, state: dict
) -> None:
    servers = []
    for name, (app, sock) in apps.items():
        config = uvicorn.Config(
            app,
            http=SandboxProtocol,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=30,
            lifespan="off",
            limit_concurrency=None,
        )
        server = uvicorn.Server(config)
        server.config.setup_event_loop = lambda: None  # type: ignore[method-assign]
        servers.append((name, server, sock))
    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for _, server, sock in servers]
    while not all(server.started for _, server, _ in servers):
        if any(t.done() for t in tasks):
            break
        await asyncio.sleep(0.02)
    if state_file:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(state_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for _, server, _ in servers:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)


def serve(
    server_url: str,
    *,
    prefix: str = "sandbox",
    host: str = "127.0.0.1",
    ports: dict[str, int] | None = None,
    state_file: Path | None = None,
    seed: dict[str, Any] | None = None,
    vendors: list[str] | None = None,
) -> None:
    """Start every vendor service and the admin API; block until SIGTERM/SIGINT.

    Args:
        server_url: PostgreSQL server (any database on it) for the vendor databases.
        prefix: database name prefix (``<prefix>_psa``, ...).
        host: address to listen on (loopback).
        ports: vendor → port; 0 or missing picks a free port.
        state_file: where to write ``{"admin": url, "vendors": {name: url}, "pid": ...}`` once
            every server listens.
        seed: when given and the sandbox holds no records, seed with these parameters first.
        vendors: serve only these vendors (default: all).
    """
    ports = ports or {}
    sandbox = build(server_url, prefix, vendors)
    sockets: dict[str, socket.socket] = {}
    for name in [*sandbox.vendors, "admin"]:
        sockets[name] = _bound_socket(host, ports.get(name, 0))
    for name, v in sandbox.vendors.items():
        v.ctx.base_url = f"http://{host}:{sockets[name].getsockname()[1]}"
    sandbox.admin_url = f"http://{host}:{sockets['admin'].getsockname()[1]}"
    admin = admin_app(sandbox)
    if seed is not None and not any(v.ctx.store.counts() for v in sandbox.vendors.values()):
        seed_sandbox(sandbox, seed)
    apps = {name: (v.build_app(), sockets[name]) for name, v in sandbox.vendors.items()}
    apps["admin"] = (admin, sockets["admin"])
    state = {
        "pid": os.getpid(),
        "admin": sandbox.admin_url,
        "vendors": {n: v.ctx.base_url for n, v in sandbox.vendors.items()},
        "prefix": prefix,
    }
    try:
        asyncio.run(_serve_all(apps, state_file, state))
    finally:
        for v in sandbox.vendors.values():
            v.ctx.store.close()
        sandbox.admin_store.close()
