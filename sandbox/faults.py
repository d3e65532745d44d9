"""Fault injection for the sandbox services, switchable at run time through the admin API.

A :class:`FaultRule` matches requests by method and path (``fnmatch`` pattern) and injects one
kind of fault into the matching requests: always, with a probability (from a seeded generator,
so runs repeat), for the first ``times`` matches, or after ``skip`` matches.

Kinds:

``latency``             sleep ``latency_ms`` before handling the request.
``status``              answer ``status`` (429, 503, 500, ...) with the vendor's own error body
                        and, when ``retry_after`` is set, a ``Retry-After`` header in seconds
                        (``"5"``) or as an HTTP-date (``"date:5"`` = five seconds from now).
``reset``               close the connection with a TCP reset before any byte is answered.
``drop_after_commit``   handle the request (the write commits), then reset the connection
                        instead of answering: the client never learns its write succeeded.
``truncate``            send the headers and only part of the body, then close the connection.
``malformed``           answer 200 with a body that is not valid JSON.
``token_expired``       answer the vendor's "session expired" 401.
``insert_while_paging`` after computing the page, insert ``count`` new records that sort ahead
                        of it (the vendor decides how), then answer: later pages shift.
``concurrency_cap``     at most ``limit`` matching requests in flight; the next one gets the
                        vendor's concurrency error (NetSuite: ``CONCURRENCY_LIMIT_EXCEEDED``).
"""

from __future__ import annotations

import asyncio
import fnmatch
import itertools
import random
import socket
import struct
import threading
from email.utils import formatdate
from time import time
from typing import Any, Literal

from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FaultKind = Literal[
    "latency",
    "status",
    "reset",
    "drop_after_commit",
    "truncate",
    "malformed",
    "token_expired",
    "insert_while_paging",
    "concurrency_cap",
]
TRANSPORT_KEY = "sandbox.transport"
_ids = itertools.count(1)


class FaultRule(BaseModel):
    """One fault switch."""

    kind: FaultKind
    route: str = Field("*", description="fnmatch pattern on the request path, e.g. */time_entries*")
    method: str = Field("*", description="HTTP method, or * for any")
    probability: float = Field(1.0, ge=0.0, le=1.0)
    times: int | None = Field(None, ge=0, description="inject into the first N matches only")
    skip: int = Field(0, ge=0, description="let the first N matches through untouched")
    latency_ms: int = Field(0, ge=0)
    status: int = 429
    retry_after: str | None = Field(None, description='"5" (seconds) or "date:5" (HTTP-date)')
    body: Any = Field(None, description="override the vendor's error body")
    limit: int = Field(1, ge=0, description="concurrency_cap: requests allowed in flight")
    count: int = Field(1, ge=1, description="insert_while_paging: records to insert")
    id: str = Field(default_factory=lambda: f"f{next(_ids)}")

    def matches(self, method: str, path: str) -> bool:
        """True when this rule applies to ``method path``."""
        return (self.method in ("*", method.upper())) and fnmatch.fnmatchcase(path, self.route)


class VendorResponses:
    """How a vendor says "throttled", "session expired" and "too many concurrent requests".

    Each vendor service subclasses this with its own wire format.
    """

    def status(self, rule: FaultRule) -> Response:
        """The body for an injected ``status`` fault (default: a plain JSON error)."""
        return JSONResponse({"error": f"injected {rule.status}"}, status_code=rule.status)

    def token_expired(self) -> Response:
        """The vendor's 401 for an expired or invalid session."""
        return JSONResponse({"error": "invalid_token"}, status_code=401)

    def concurrency_exceeded(self, rule: FaultRule) -> Response:
        """The vendor's answer to one request too many in flight."""
        return JSONResponse({"error": "concurrency limit exceeded"}, status_code=429)

    def insert_while_paging(self, path: str, query: str, count: int) -> None:
        """Insert ``count`` records that sort ahead of the page just served (vendor-specific)."""


class FaultRegistry:
    """The active fault rules of one service, with their match counters."""

    def __init__(self, seed: int = 0) -> None:
        self._rules: list[FaultRule] = []
        self._matched: dict[str, int] = {}
        self._injected: dict[str, int] = {}
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def set(self, rules: list[FaultRule]) -> None:
        """Replace all rules."""
        with self._lock:
            self._rules = list(rules)
            self._matched.clear()
            self._injected.clear()

    def add(self, rule: FaultRule) -> FaultRule:
        """Add one rule."""
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule."""
        self.set([])

    def reseed(self, seed: int) -> None:
        """Restart the probability generator (runs with the same seed inject the same faults)."""
        with self._lock:
            self._random = random.Random(seed)

    def describe(self) -> list[dict[str, Any]]:
        """The rules with how often each matched and injected."""
        with self._lock:
            return [
                {
                    **r.model_dump(),
                    "matched": self._matched.get(r.id, 0),
                    "injected": self._injected.get(r.id, 0),
                }
                for r in self._rules
            ]

    def pick(self, method: str, path: str) -> list[FaultRule]:
        """The rules that fire for this request (counters advance)."""
        fired: list[FaultRule] = []
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                seen = self._matched.get(rule.id, 0)
                self._matched[rule.id] = seen + 1
                if seen < rule.skip:
                    continue
                if rule.times is not None and self._injected.get(rule.id, 0) >= rule.times:
                    continue
                if rule.kind != "concurrency_cap" and self._random.random() >= rule.probability:
                    continue
                fired.append(rule)
        return fired

    def record_injected(self, rule: FaultRule) -> None:
        """Count an injection (for ``times`` and the admin view)."""
        with self._lock:
            self._injected[rule.id] = self._injected.get(rule.id, 0) + 1

    def enter(self, rule: FaultRule) -> bool:
        """Take a concurrency slot; False when the cap is reached."""
        with self._lock:
            current = self._in_flight.get(rule.id, 0)
            if current >= rule.limit:
                self._injected[rule.id] = self._injected.get(rule.id, 0) + 1
                return False
            self._in_flight[rule.id] = current + 1
            return True

    def leave(self, rule: FaultRule) -> None:
        """Release a concurrency slot."""
        with self._lock:
            self._in_flight[rule.id] = max(0, self._in_flight.get(rule.id, 0) - 1)


def retry_after_header(value: str | None) -> dict[str, str]:
    """``Retry-After`` in seconds (``"5"``) or as an HTTP-date (``"date:5"``)."""
    if value is None:
        return {}
    if value.startswith("date:"):
        return {"Retry-After": formatdate(time() + float(value[5:]), usegmt=True)}
    return {"Retry-After": value}


def abort_connection(scope: Scope) -> None:
    """Close the client's connection with a TCP reset (RST), mid-request."""
    transport = scope.get(TRANSPORT_KEY)
    if transport is None:  # pragma: no cover - only when not served by SandboxProtocol
        raise RuntimeError("reset faults need the sandbox's uvicorn protocol (SandboxProtocol)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class SandboxProtocol(HttpToolsProtocol):
    """uvicorn's HTTP protocol, exposing the connection's transport to the app (for resets)."""

    def on_message_begin(self) -> None:
        """Start a request, remembering the transport in the ASGI scope."""
        super().on_message_begin()
        self.scope[TRANSPORT_KEY] = self.transport  # type: ignore[literal-required]


class FaultMiddleware:
    """ASGI middleware that applies a :class:`FaultRegistry` to every vendor request.

    Paths under ``exempt_prefix`` (the admin API) are never faulted.
    """

    def __init__(
        self,
        app: ASGIApp,
        registry: FaultRegistry,
        responses: VendorResponses,
        exempt_prefix: str = "/_sandbox",
    ) -> None:
        self.app = app
        self.registry = registry
        self.responses = responses
        self.exempt_prefix = exempt_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request, injecting whatever rules fire."""
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefix):
            await self.app(scope, receive, send)
            return
        fired = self.registry.pick(scope["method"], scope["path"])
        if not fired:
            await self.app(scope, receive, send)
            return
        await self._apply(fired, scope, receive, send)

    async def _apply(
        self, fired: list[FaultRule], scope: Scope, receive: Receive, send: Send
    ) -> None:
        held: list[FaultRule] = []
        try:
            for rule in fired:
                if rule.kind == "concurrency_cap":
                    if not self.registry.enter(rule):
                        await self.responses.concurrency_exceeded(rule)(scope, receive, send)
                        return
                    held.append(rule)
            for rule in fired:
                if rule.kind == "latency":
                    self.registry.record_injected(rule)
                    await asyncio.sleep(rule.latency_ms / 1000)
            for rule in fired:
                if await self._apply_one(rule, scope, receive, send):
                    return
            await self.app(scope, receive, send)
        finally:
            for rule in held:
                self.registry.leave(rule)

    async def _apply_one(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> bool:
        """Apply a rule that replaces or wraps the response; True when the request is done."""
        kind = rule.kind
        if kind in ("latency", "concurrency_cap"):
            return False
        self.registry.record_injected(rule)
        if kind == "status":
            response = rule.body is not None and JSONResponse(rule.body, status_code=rule.status)
            response = response or self.responses.status(rule)
            response.headers.update(retry_after_header(rule.retry_after))
            await response(scope, receive, send)
        elif kind == "token_expired":
            await self.responses.token_expired()(scope, receive, send)
        elif kind == "reset":
            abort_connection(scope)
        elif kind == "drop_after_commit":
            await self.app(scope, receive, _swallow)
            abort_connection(scope)
        elif kind in ("truncate", "malformed"):
            await self._mangle(kind, scope, receive, send)
        elif kind == "insert_while_paging":
            # Hold the page until the inserts are committed, so the client's very next request
            # (however quick) sees them: the page served is the one computed before they existed.
            held: list[Message] = []

            async def hold(message: Message) -> None:
                held.append(message)

            await self.app(scope, receive, hold)
            query = scope.get("query_string", b"").decode()
            await asyncio.to_thread(
                self.responses.insert_while_paging, scope["path"], query, rule.count
            )
            for message in held:
                await send(message)
        return True

    async def _mangle(self, kind: str, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        if kind == "malformed":
            # A page cut short and closed with garbage: valid HTTP, invalid JSON.
            broken = body[: max(1, len(body) // 2)] + b"\x00<html>502 Bad Gateway</html>"
            headers.append((b"content-length", str(len(broken)).encode()))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": broken})
            return
        # truncate: promise the whole body, send half, then drop the connection.
        headers.append((b"content-length", str(len(body)).encode()))
        await send(
            {"type": "http.response.start", "status": start.get("status", 200), "headers": headers}
        )
        await send(
            {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        )
        abort_connection(scope)


async def _swallow(message: Message) -> None:
    """A ``send`` that answers nothing."""
