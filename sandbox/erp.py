"""ERP sandbox: NetSuite SuiteTalk REST web services (``/services/rest/...``).

Follows ``shared/reference/api-wire-formats.md`` §2. Every request must carry OAuth 1.0a TBA
(``HMAC-SHA256``, ``realm`` = account id), verified for real (``sandbox/erp_oauth.py``); anything
else gets NetSuite's ``INVALID_LOGIN`` 401. OAuth 2.0 bearer tokens are not accepted.

==========================================================  =====================================
``GET|POST /services/rest/record/v1/{type}``                list (ids + links, ``limit``,
                                                            ``offset``, ``q``) / create (204 +
                                                            ``Location``)
``GET|PATCH|DELETE /services/rest/record/v1/{type}/{id}``   ``{id}`` is an internal id or
``PUT /services/rest/record/v1/{type}/eid:{externalId}``    ``eid:<externalId>``; PUT = upsert
``GET /services/rest/record/v1/{type}/{id}/{sublist}``      one sublist, expanded
``POST /services/rest/query/v1/suiteql``                    SuiteQL (``sandbox/erp_suiteql.py``)
``GET /services/rest/async/v1/job/{id}[/task[/{t}[/result]]]``  asynchronous requests
``GET /services/rest/system/v1/governanceLimits``           the concurrency limit
==========================================================  =====================================

Record types: ``subsidiary, account, currency, department, classification, location, item,
expenseCategory, customer, job, employee, timeBill, expenseReport, journalEntry, invoice,
customerPayment, creditMemo, accountingPeriod`` (case-insensitive in URLs).

Writes check what ps-sync relies on: references (``{"id": ...}``) must name existing records
(400 ``INVALID_CONTENT`` with ``o:errorPath``); ``externalId`` is letters, digits, ``_``, ``-``
and unique per type; a transaction (``timeBill, expenseReport, journalEntry, invoice,
customerPayment, creditMemo``) dated in, or posted to, a ``closed`` accounting period is refused
(400 ``USER_ERROR`` "The accounting period for this transaction date is closed." — wording
unverified); journal lines must balance; ``timeBill.hours`` is ``"1:30"`` or ``1.5`` and is echoed
in the form sent. Every write, refused or not, goes to the write log (admin ``posted`` view).

``Prefer: respond-async`` on a record or SuiteQL request answers 202 with the job's
``Location``; the job runs before the answer. ``X-NetSuite-Idempotency-Key`` counts only then:
a repeat gets the "Conflict" ``IDEMPOTENCY_ERROR`` with the first job's ``Location``; a repeat
with a different request is refused too (same code, no ``Location``).

Fault hooks: NetSuite's account concurrency limit is a default ``concurrency_cap`` rule on
``/services/rest/*``. ``insert_while_paging`` copies the first record of the page just served
(record collection or SuiteQL) ``count`` times under free internal ids just below it, with the
same field values (``externalId`` dropped) and the same ``lastModifiedDate``: the copies sort
ahead of the page under any order that ends in the internal id, so every later offset shifts by
``count`` and the next page repeats records already seen.

Switches (``PATCH /_sandbox/switches/erp``; the unverified behaviours):

==============================  ==========  ===============================================
``concurrency_limit``           15          requests in flight before CONCURRENCY_LIMIT_EXCEEDED
``concurrency_status``          429         its HTTP status (429 or 400; sources disagree)
``idempotency_conflict_status`` 400         status of an idempotency repeat (400 per Oracle, or 409)
``oauth_timestamp_window_s``    300         allowed clock skew of ``oauth_timestamp``
``upsert_location_header``      true        PUT ``eid:`` upsert answers with ``Location``
``upsert_replaces``             true        upsert of an existing record replaces its body
                                            (false: merges like PATCH)
``async_location_absolute``     false       async ``Location`` as a full URL (Oracle shows a path)
``suiteql_values_as_strings``   true        SuiteQL values as strings (ids, numbers, ``T``/``F``)
``suiteql_omit_nulls``          true        SuiteQL leaves out null columns
``suiteql_date_format``         "us"        SuiteQL dates ``M/D/YYYY`` (date-times too: date only,
                                            use ``TO_CHAR`` for the time) or ``iso``
``suiteql_max_results``         100000      rows one SuiteQL query can page through
``enforce_offset_divisible``    false       400 when ``offset`` is not a multiple of ``limit``
``latency_ms``                  0           fixed service time per request (inside the
                                            concurrency slot: the cap ÷ latency is the ceiling)
==============================  ==========  ===============================================
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import parse_qsl, quote, urlencode

import psycopg
from fastapi import FastAPI
from psycopg.types.json import Jsonb
from starlette.requests import Request
from starlette.responses import Response

from sandbox.erp_oauth import NonceCache, OAuthError, SignedRequest, TbaCredentials, verify
from sandbox.erp_suiteql import (
    RECORD_TYPES,
    Column,
    Compiler,
    Kind,
    OutputOptions,
    Query,
    QueryError,
    display_value,
    infer_kind,
    output_value,
    parse_q,
    parse_suiteql,
    static_column,
    to_char,
)
from sandbox.faults import FaultRule, VendorResponses
from sandbox.store import VendorStore
from sandbox.vendor import Vendor, VendorContext

log = logging.getLogger(__name__)

REST = "/services/rest"
RFC2616 = "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html"
_ANCHORS = {
    400: "#sec10.4.1",
    403: "#sec10.4.4",
    404: "#sec10.4.5",
    405: "#sec10.4.6",
    409: "#sec10.4.10",
    415: "#sec10.4.16",
    500: "#sec10.5.1",
    502: "#sec10.5.3",
    503: "#sec10.5.4",
    504: "#sec10.5.5",
}
MEDIA_RECORD = "application/vnd.oracle.resource+json; type=singular"
MEDIA_COLLECTION = "application/vnd.oracle.resource+json; type=collection"
MEDIA_ERROR = "application/vnd.oracle.resource+json; type=error"
INVALID_LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)
CLOSED_PERIOD_DETAIL = "The accounting period for this transaction date is closed."
IDEMPOTENCY_DETAIL = (
    'A request with the same idempotency key is already submitted. See the "Location" header '
    "for a link to the previously submitted job"
)
IDEMPOTENCY_MISMATCH_DETAIL = (
    "A request with the same idempotency key and a different content is already submitted. "
    "Use a new idempotency key for a different request."
)
PAGE_MAX = 1000
_TYPES_BY_LOWER = {t.lower(): t for t in RECORD_TYPES}
POSTING_TYPES = frozenset(
    {"timeBill", "expenseReport", "journalEntry", "invoice", "customerPayment", "creditMemo"}
)
# Body field → the record types it may reference (checked on write, linked on read).
REFERENCES: dict[str, tuple[str, ...]] = {
    "subsidiary": ("subsidiary",),
    "currency": ("currency",),
    "department": ("department",),
    "class": ("classification",),
    "location": ("location",),
    "account": ("account",),
    "incomeAccount": ("account",),
    "expenseAccount": ("account",),
    "expenseAcct": ("account",),
    "arAcct": ("account",),
    "item": ("item",),
    "employee": ("employee",),
    "projectManager": ("employee",),
    "supervisor": ("employee",),
    "customer": ("customer", "job"),
    "job": ("job",),
    "entity": ("customer", "job", "employee"),
    "postingPeriod": ("accountingPeriod",),
}
SUBLIST_REFERENCES: dict[str, tuple[str, ...]] = {**REFERENCES, "category": ("expenseCategory",)}
PARENTS: dict[str, tuple[str, ...]] = {
    "subsidiary": ("subsidiary",),
    "account": ("account",),
    "department": ("department",),
    "classification": ("classification",),
    "location": ("location",),
    "item": ("item",),
    "customer": ("customer",),
    "job": ("customer", "job"),
    "accountingPeriod": ("accountingPeriod",),
}
READ_ONLY = frozenset({"id", "links", "refName", "createdDate", "lastModifiedDate"})
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9_-]+")
_HOURS = re.compile(r"\d+:[0-5]\d|\d+(\.\d+)?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

ERP_DDL = r"""
-- Lenient casts for the JSON fields SuiteQL compares (a bad value is NULL, never an error).
CREATE OR REPLACE FUNCTION erp_num(t text) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN t ~ '^\s*-?[0-9]+(\.[0-9]+)?\s*$' THEN t::numeric END $$;
CREATE OR REPLACE FUNCTION erp_date(t text) RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN t ~ '^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])'
     THEN make_date(substr(t, 1, 4)::int, substr(t, 6, 2)::int, substr(t, 9, 2)::int) END $$;
CREATE OR REPLACE FUNCTION erp_ts(t text) RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN t ~ '^\d{4}-\d{2}-\d{2}' THEN t::timestamptz END $$;
CREATE OR REPLACE FUNCTION erp_bool(t text) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE lower(t) WHEN 'true' THEN true WHEN 't' THEN true
     WHEN 'false' THEN false WHEN 'f' THEN false END $$;
CREATE OR REPLACE FUNCTION erp_hours(t text) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN position(':' in t) > 0
     THEN erp_num(split_part(t, ':', 1)) + erp_num(split_part(t, ':', 2)) / 60
     ELSE erp_num(t) END $$;
-- lastModifiedDate filters and orderings use updated_at (it mirrors the field), served by the
-- core's record_updated_idx (type, updated_at, id). Transactions are often cut by tranDate.
CREATE INDEX IF NOT EXISTS erp_trandate_idx ON record (type, erp_date(data ->> 'tranDate'));
"""


# --- results and errors ----------------------------------------------------------------------


@dataclass
class Result:
    """An answer, before it becomes a response (async jobs keep it for ``/result``)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = MEDIA_RECORD

    def response(self) -> Response:
        """The HTTP response."""
        if self.body is None:
            return Response(status_code=self.status, headers=self.headers)
        content = json.dumps(self.body, ensure_ascii=False, separators=(",", ":"))
        return Response(content, self.status, self.headers, media_type=self.media_type)

    def stored(self) -> dict[str, Any]:
        """JSON form for the job store."""
        return {"status": self.status, "body": self.body, "headers": self.headers}


def error_body(
    status: int, details: list[dict[str, str]], title: str | None = None
) -> dict[str, Any]:
    """NetSuite's error envelope (``type, title, status, o:errorDetails``)."""
    return {
        "type": RFC2616 + _ANCHORS.get(status, ""),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "o:errorDetails": details,
    }


class NsError(Exception):
    """A NetSuite error answer.

    Args:
        status: HTTP status.
        detail: ``o:errorDetails[0].detail``.
        code: ``o:errorCode``.
        path: ``o:errorPath`` (the body field at fault).
        query_param: ``o:errorQueryParam``.
        header: ``o:errorHeader``.
        title: envelope title (default: the status phrase).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        code: str,
        *,
        path: str | None = None,
        query_param: str | None = None,
        header: str | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        entry = {"detail": detail, "o:errorCode": code}
        for key, value in (
            ("o:errorPath", path),
            ("o:errorQueryParam", query_param),
            ("o:errorHeader", header),
        ):
            if value is not None:
                entry[key] = value
        self.body = error_body(status, [entry], title)

    def result(self) -> Result:
        """The error as an answer."""
        return Result(self.status, self.body, media_type=MEDIA_ERROR)


def invalid_login(scheme: str, account_id: str) -> Response:
    """NetSuite's 401 ``INVALID_LOGIN`` with a ``WWW-Authenticate`` challenge."""
    body = error_body(401, [{"detail": INVALID_LOGIN_DETAIL, "o:errorCode": "INVALID_LOGIN"}])
    challenge = (
        f'{scheme} realm="{account_id}", error="invalid_token", '
        'error_description="Invalid login attempt."'
    )
    return Result(401, body, {"WWW-Authenticate": challenge}, MEDIA_ERROR).response()


def invalid_value(value: Any, path: str) -> NsError:
    """400 ``INVALID_CONTENT`` for a bad field value (Oracle's wording, §2.9)."""
    name = path.rsplit(".", 1)[-1]
    return NsError(
        400,
        "Error while accessing resource: You have entered an Invalid Field Value "
        f"{value} for the following field: {name}",
        "INVALID_CONTENT",
        path=path,
    )


def not_found(
    detail: str = "The record instance does not exist. Provide a valid record instance ID.",
) -> NsError:
    """404 ``NONEXISTENT_ID``."""
    return NsError(404, detail, "NONEXISTENT_ID")


def user_error(detail: str, path: str | None = None) -> NsError:
    """400 ``USER_ERROR`` (business rules)."""
    return NsError(400, detail, "USER_ERROR", path=path)


# --- requests --------------------------------------------------------------------------------


@dataclass
class Call:
    """One authenticated request, as the handlers see it."""

    method: str
    path: str
    query: dict[str, str]
    query_string: str
    headers: dict[str, str]
    body: bytes
    base: str
    params: dict[str, str]
    idempotency_key: str | None = None

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object (400 ``INVALID_CONTENT`` otherwise)."""
        try:
            value = json.loads(self.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise NsError(
                400,
                "Invalid content in the request body. The JSON is malformed.",
                "INVALID_CONTENT",
            ) from exc
        if not isinstance(value, dict):
            raise NsError(
                400,
                "Invalid content in the request body. A JSON object is expected.",
                "INVALID_CONTENT",
            )
        return value

    def logged_body(self) -> Any:
        """The body for the write log: its JSON, or the text when it is not JSON."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return {"raw": self.body.decode("utf-8", "replace")[:2000]}


@dataclass(frozen=True)
class Route:
    """A URL pattern and its handlers by method."""

    pattern: re.Pattern[str]
    handlers: dict[str, str]
    can_be_async: bool


_ROUTES = [
    Route(
        re.compile(REST + r"/record/v1/(?P<rtype>[^/]+)"),
        {"GET": "list_records", "POST": "create_record"},
        can_be_async=True,
    ),
    Route(
        re.compile(REST + r"/record/v1/(?P<rtype>[^/]+)/(?P<rid>[^/]+)"),
        {
            "GET": "get_record",
            "PATCH": "update_record",
            "PUT": "upsert_record",
            "DELETE": "delete_record",
        },
        can_be_async=True,
    ),
    Route(
        re.compile(REST + r"/record/v1/(?P<rtype>[^/]+)/(?P<rid>[^/]+)/(?P<sublist>[^/]+)"),
        {"GET": "get_sublist"},
        can_be_async=True,
    ),
    Route(re.compile(REST + r"/query/v1/suiteql"), {"POST": "suiteql"}, can_be_async=True),
    Route(re.compile(REST + r"/async/v1/job/(?P<job>\d+)"), {"GET": "get_job"}, can_be_async=False),
    Route(
        re.compile(REST + r"/async/v1/job/(?P<job>\d+)/task"),
        {"GET": "get_tasks"},
        can_be_async=False,
    ),
    Route(
        re.compile(REST + r"/async/v1/job/(?P<job>\d+)/task/(?P<task>\d+)"),
        {"GET": "get_task"},
        can_be_async=False,
    ),
    Route(
        re.compile(REST + r"/async/v1/job/(?P<job>\d+)/task/(?P<task>\d+)/result"),
        {"GET": "get_task_result"},
        can_be_async=False,
    ),
    Route(
        re.compile(REST + r"/system/v1/governanceLimits"),
        {"GET": "governance_limits"},
        can_be_async=False,
    ),
]


def _now() -> datetime:
    # NetSuite stamps to the second; updated_at mirrors lastModifiedDate exactly.
    return datetime.now(UTC).replace(microsecond=0)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _link(rel: str, href: str) -> dict[str, str]:
    return {"rel": rel, "href": href}


def _is_sublist(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("items"), list)


def _strip_links(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_links(v) for k, v in value.items() if k != "links"}
    if isinstance(value, list):
        return [_strip_links(v) for v in value]
    return value


def ref_name(rtype: str, data: dict[str, Any]) -> str:
    """What NetSuite shows as ``refName`` for a record."""
    if rtype == "employee" and not data.get("entityId"):
        name = " ".join(str(data[k]) for k in ("firstName", "lastName") if data.get(k))
        if name:
            return name
    if rtype == "account" and data.get("acctNumber") and data.get("acctName"):
        return f"{data['acctNumber']} {data['acctName']}"
    for key in ("entityId", "companyName", "name", "periodName", "itemId", "acctName", "tranId"):
        if data.get(key):
            return str(data[key])
    return str(data.get("id", ""))


def _decimal(value: Any, path: str) -> Decimal:
    if isinstance(value, bool):
        raise invalid_value(value, path)
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise invalid_value(value, path) from exc


def _page_params(call: Call, switches: dict[str, Any]) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        raw = call.query.get(name)
        if raw is None or raw == "":
            return default
        if not raw.isdigit():
            raise NsError(
                400,
                f"Invalid query parameter value: {name}={raw}. Provide a valid value.",
                "INVALID_PARAMETER",
                query_param=name,
            )
        return int(raw)

    limit, offset = number("limit", PAGE_MAX), number("offset", 0)
    if not 1 <= limit <= PAGE_MAX:
        raise NsError(
            400,
            f"Invalid query parameter value: limit={limit}. The limit must be between 1 "
            f"and {PAGE_MAX}.",
            "INVALID_PARAMETER",
            query_param="limit",
        )
    if switches.get("enforce_offset_divisible") and offset % limit:
        raise NsError(
            400,
            f"Invalid query parameter value: offset={offset}. The offset must be "
            "divisible by the limit.",
            "INVALID_PARAMETER",
            query_param="offset",
        )
    return limit, offset


def _paging(
    href: str, extra: list[tuple[str, str]], *, limit: int, offset: int, count: int, total: int
) -> tuple[list[dict[str, str]], bool]:
    """NetSuite's paging links (prev, next, last, self) and ``hasMore``."""

    def url(at: int) -> str:
        return f"{href}?{urlencode([('limit', limit), ('offset', at), *extra], quote_via=quote)}"

    has_more = offset + count < total
    links = []
    if offset > 0:
        links.append(_link("prev", url(max(0, offset - limit))))
    if has_more:
        links.append(_link("next", url(offset + limit)))
    links.append(_link("last", url(max(0, (total - 1) // limit * limit))))
    links.append(_link("self", url(offset)))
    return links, has_more


# --- the vendor ------------------------------------------------------------------------------


class NetSuiteResponses(VendorResponses):
    """NetSuite's answers to injected faults."""

    def __init__(self, vendor: NetSuiteVendor) -> None:
        self.vendor = vendor

    def status(self, rule: FaultRule) -> Response:
        """429 → CONCURRENCY_LIMIT_EXCEEDED; 401 → INVALID_LOGIN; 5xx → UNEXPECTED_ERROR."""
        if rule.status == 429:
            return self.vendor.concurrency_body(429).response()
        if rule.status == 401:
            return self.token_expired()
        if rule.status >= 500:
            detail = f"An unexpected error occurred. Error ID: {uuid.uuid4().hex[:20]}"
            code = "UNEXPECTED_ERROR"
        else:
            detail, code = "The request could not be processed.", "USER_ERROR"
        return NsError(rule.status, detail, code).result().response()

    def token_expired(self) -> Response:
        """The INVALID_LOGIN 401."""
        return invalid_login("OAuth", self.vendor.ctx.credentials["account_id"])

    def concurrency_exceeded(self, rule: FaultRule) -> Response:
        """CONCURRENCY_LIMIT_EXCEEDED with the ``concurrency_status`` switch's status."""
        return self.vendor.concurrency_body(
            int(self.vendor.switch("concurrency_status"))
        ).response()

    def insert_while_paging(self, path: str, query: str, count: int) -> None:
        """Copy the page's first record ahead of it (see the module docstring)."""
        self.vendor.insert_ahead(path, query, count)


class NetSuiteVendor(Vendor):
    """NetSuite SuiteTalk REST web services (record API, SuiteQL, async jobs)."""

    name = "erp"
    title = "NetSuite SuiteTalk REST web services (sandbox)"
    ddl = ERP_DDL
    default_switches: ClassVar[dict[str, Any]] = {
        "concurrency_limit": 15,
        "concurrency_status": 429,
        "idempotency_conflict_status": 400,
        "oauth_timestamp_window_s": 300,
        "upsert_location_header": True,
        "upsert_replaces": True,
        "async_location_absolute": False,
        "suiteql_values_as_strings": True,
        "suiteql_omit_nulls": True,
        "suiteql_date_format": "us",
        "suiteql_max_results": 100_000,
        "enforce_offset_divisible": False,
        "latency_ms": 0,
    }

    def __init__(self, ctx: VendorContext) -> None:
        super().__init__(ctx)
        self.nonces = NonceCache()
        self._cap_rule: FaultRule | None = None
        # (path, query string) of a page served → (record type, internal id) of its first row.
        self._pages: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()
        self._pages_lock = threading.Lock()

    # --- Vendor interface --------------------------------------------------------------------

    def default_faults(self) -> list[FaultRule]:
        """NetSuite's account concurrency limit, always on."""
        self._cap_rule = FaultRule(
            kind="concurrency_cap", route=f"{REST}/*", limit=int(self.switch("concurrency_limit"))
        )
        return [self._cap_rule]

    def responses(self) -> VendorResponses:
        """NetSuite's fault answers."""
        return NetSuiteResponses(self)

    def routes(self, app: FastAPI) -> None:
        """One endpoint: authentication comes before routing, as in NetSuite."""
        app.add_route(
            "/{path:path}",
            self._endpoint,
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            include_in_schema=False,
        )

    # --- plumbing ----------------------------------------------------------------------------

    @property
    def store(self) -> VendorStore:
        """The vendor store."""
        return self.ctx.store

    def switch(self, name: str) -> Any:
        """A switch's current value."""
        return self.ctx.switches.get(name, self.default_switches[name])

    def concurrency_body(self, status: int) -> Result:
        """CONCURRENCY_LIMIT_EXCEEDED, the body the community guide shows (§2.9)."""
        body = {
            "type": RFC2616,
            "title": "Bad Request",
            "status": status,
            "o:errorCode": "USER_ERROR",
            "o:errorDetails": [
                {
                    "detail": "Concurrent request limit exceeded. Request blocked.",
                    "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED",
                }
            ],
        }
        return Result(status, body, media_type=MEDIA_ERROR)

    async def _endpoint(self, request: Request) -> Response:
        if self._cap_rule is not None:
            # The switch can change at run time; the rule object is the one the registry holds.
            self._cap_rule.limit = int(self.switch("concurrency_limit"))
        latency = float(self.switch("latency_ms") or 0)
        if latency > 0:
            await asyncio.sleep(latency / 1000)
        body = await request.body()
        account = self.ctx.credentials["account_id"]
        authorization = request.headers.get("authorization")
        try:
            self._authenticate(request, authorization, body)
        except OAuthError as exc:
            log.info("erp: refused %s %s: %s", request.method, request.url.path, exc)
            scheme = "Bearer" if (authorization or "").lower().startswith("bearer") else "OAuth"
            return invalid_login(scheme, account)
        path = request.url.path.rstrip("/") or "/"
        route, match = self._match(path)
        if route is None or match is None:
            return (
                NsError(404, f"Invalid URL: the resource {path} does not exist.", "INVALID_URL")
                .result()
                .response()
            )
        handler = route.handlers.get(request.method)
        if handler is None:
            return (
                NsError(
                    405,
                    f"HTTP method {request.method} is not allowed for {path}.",
                    "METHOD_NOT_ALLOWED",
                )
                .result()
                .response()
            )
        query_string = request.scope.get("query_string", b"").decode("latin-1")
        call = Call(
            method=request.method,
            path=path,
            query=dict(parse_qsl(query_string, keep_blank_values=True)),
            query_string=query_string,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            base=f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}",
            params=match.groupdict(),
        )
        if route.can_be_async and _prefers_async(call.headers.get("prefer", "")):
            return await self._respond_async(handler, call)
        result = await asyncio.to_thread(self._run, handler, call)
        return result.response()

    def _authenticate(self, request: Request, authorization: str | None, body: bytes) -> None:
        creds = self.ctx.credentials
        verify(
            SignedRequest(
                method=request.method,
                scheme=request.url.scheme,
                host=request.headers.get("host", request.url.netloc),
                raw_path=request.scope.get("raw_path", request.url.path.encode()).decode("latin-1"),
                query_string=request.scope.get("query_string", b"").decode("latin-1"),
                authorization=authorization,
                content_type=request.headers.get("content-type"),
                body=body,
            ),
            TbaCredentials(
                account_id=creds["account_id"],
                consumer_key=creds["consumer_key"],
                consumer_secret=creds["consumer_secret"],
                token_id=creds["token_id"],
                token_secret=creds["token_secret"],
            ),
            self.nonces,
            window_s=float(self.switch("oauth_timestamp_window_s")),
        )

    @staticmethod
    def _match(path: str) -> tuple[Route | None, re.Match[str] | None]:
        for route in _ROUTES:
            match = route.pattern.fullmatch(path)
            if match:
                return route, match
        return None, None

    def _run(self, handler: str, call: Call) -> Result:
        try:
            return getattr(self, handler)(call)
        except NsError as err:
            return err.result()
        except Exception:
            error_id = uuid.uuid4().hex[:20]
            log.exception("erp: %s %s failed (error id %s)", call.method, call.path, error_id)
            return NsError(
                500, f"An unexpected error occurred. Error ID: {error_id}", "UNEXPECTED_ERROR"
            ).result()

    # --- asynchronous requests ---------------------------------------------------------------

    def _job_location(self, base: str, job_id: int) -> str:
        path = f"{REST}/async/v1/job/{job_id}"
        return f"{base}{path}" if self.switch("async_location_absolute") else path

    async def _respond_async(self, handler: str, call: Call) -> Response:
        key = call.headers.get("x-netsuite-idempotency-key")
        if key is not None:
            try:
                key = str(uuid.UUID(key))
            except ValueError:
                return (
                    NsError(
                        400,
                        "Invalid header value: X-NetSuite-Idempotency-Key must be a UUID.",
                        "INVALID_PARAMETER",
                        header="X-NetSuite-Idempotency-Key",
                    )
                    .result()
                    .response()
                )
        job_id, refused = await asyncio.to_thread(self._open_job, call, key)
        if refused is not None:
            return refused.response()
        call.idempotency_key = key
        started = _stamp(datetime.now(UTC))
        result = await asyncio.to_thread(self._run, handler, call)
        await asyncio.to_thread(self._close_job, job_id, started, result)
        headers = {
            "Preference-Applied": "respond-async",
            "Location": self._job_location(call.base, job_id),
        }
        return Response(status_code=202, headers=headers)

    def _open_job(self, call: Call, key: str | None) -> tuple[int, Result | None]:
        fingerprint = hashlib.sha256(
            b"\0".join(
                [call.method.encode(), call.path.encode(), call.query_string.encode(), call.body]
            )
        ).hexdigest()
        with self.store.connection() as conn:
            job_id = int(
                conn.execute(
                    "INSERT INTO kv (key, value) VALUES ('async:seq', '1') ON CONFLICT (key) "
                    "DO UPDATE SET value = to_jsonb((kv.value #>> '{}')::bigint + 1) "
                    "RETURNING value #>> '{}' AS n"
                ).fetchone()["n"]
            )
            if key is not None:
                claimed = conn.execute(
                    "INSERT INTO kv (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING "
                    "RETURNING key",
                    (f"idempotency:{key}", Jsonb({"job": job_id, "fingerprint": fingerprint})),
                ).fetchone()
                if claimed is None:
                    first = self.store.kv_get(conn, f"idempotency:{key}")
                    refused = self._idempotency_conflict(call, first, fingerprint)
                    self._log_call(conn, call, refused.status, key)
                    return job_id, refused
            self.store.kv_put(
                conn,
                f"async:job:{job_id}",
                {
                    "id": job_id,
                    "method": call.method,
                    "path": call.path,
                    "progress": "pending",
                    "startTime": None,
                    "endTime": None,
                    "result": None,
                },
            )
        return job_id, None

    def _idempotency_conflict(self, call: Call, first: dict[str, Any], fingerprint: str) -> Result:
        status = int(self.switch("idempotency_conflict_status"))
        same = first["fingerprint"] == fingerprint
        detail = IDEMPOTENCY_DETAIL if same else IDEMPOTENCY_MISMATCH_DETAIL
        body = {
            "type": RFC2616 + _ANCHORS[409],
            "title": "Conflict",
            "status": status,
            "o:errorDetails": [{"detail": detail, "o:errorCode": "IDEMPOTENCY_ERROR"}],
        }
        headers = {"Preference-Applied": "respond-async"}
        if same:
            headers["Location"] = self._job_location(call.base, int(first["job"]))
        return Result(status, body, headers, MEDIA_ERROR)

    def _close_job(self, job_id: int, started: str, result: Result) -> None:
        with self.store.connection() as conn:
            job = self.store.kv_get(conn, f"async:job:{job_id}")
            if job is None:  # the sandbox was reset while the job ran
                return
            job.update(
                progress="succeeded" if result.status < 400 else "failed",
                startTime=started,
                endTime=_stamp(datetime.now(UTC)),
                result=result.stored(),
            )
            self.store.kv_put(conn, f"async:job:{job_id}", job)

    def _load_job(self, call: Call) -> dict[str, Any]:
        with self.store.connection() as conn:
            job = self.store.kv_get(conn, f"async:job:{call.params['job']}")
        if job is None or ("task" in call.params and call.params["task"] != str(job["id"])):
            raise not_found("The asynchronous job or task does not exist.")
        return job

    def get_job(self, call: Call) -> Result:
        """``GET /async/v1/job/{id}``."""
        job = self._load_job(call)
        href = f"{call.base}{REST}/async/v1/job/{job['id']}"
        return Result(
            200,
            {
                "links": [_link("self", href)],
                "completed": job["progress"] != "pending",
                "id": str(job["id"]),
                "progress": job["progress"],
                "task": {"links": [_link("self", f"{href}/task")]},
            },
        )

    def get_tasks(self, call: Call) -> Result:
        """``GET /async/v1/job/{id}/task``: one task per job."""
        job = self._load_job(call)
        href = f"{call.base}{REST}/async/v1/job/{job['id']}/task"
        item = {"links": [_link("self", f"{href}/{job['id']}")], "id": str(job["id"])}
        return Result(
            200,
            {
                "links": [_link("self", href)],
                "count": 1,
                "hasMore": False,
                "items": [item],
                "offset": 0,
                "totalResults": 1,
            },
            media_type=MEDIA_COLLECTION,
        )

    def get_task(self, call: Call) -> Result:
        """``GET /async/v1/job/{id}/task/{task}``."""
        job = self._load_job(call)
        href = f"{call.base}{REST}/async/v1/job/{job['id']}/task/{job['id']}"
        body: dict[str, Any] = {
            "links": [_link("related", f"{href}/result"), _link("self", href)],
            "completed": job["progress"] != "pending",
        }
        if job["endTime"]:
            body["endTime"] = job["endTime"]
        body.update(id=str(job["id"]), progress=job["progress"])
        if job["startTime"]:
            body["startTime"] = job["startTime"]
        return Result(200, body)

    def get_task_result(self, call: Call) -> Result:
        """``GET /async/v1/job/{id}/task/{task}/result``: the request's own answer."""
        job = self._load_job(call)
        if job["result"] is None:
            raise not_found("The result of the asynchronous task is not available yet.")
        stored = job["result"]
        media = MEDIA_ERROR if stored["status"] >= 400 else MEDIA_RECORD
        return Result(stored["status"], stored["body"], stored["headers"], media)

    def governance_limits(self, call: Call) -> Result:
        """``GET /system/v1/governanceLimits`` (Oracle's ``accountLimit`` form)."""
        limit = int(self.switch("concurrency_limit"))
        return Result(
            200,
            {
                "accountConcurrencyLimit": limit,
                "accountUnallocatedConcurrencyLimit": limit,
                "integrationLimitType": "accountLimit",
            },
        )

    # --- record API: helpers -----------------------------------------------------------------

    def _record_type(self, call: Call) -> str:
        rtype = _TYPES_BY_LOWER.get(call.params["rtype"].lower())
        if rtype is None:
            raise not_found(f"Record type '{call.params['rtype']}' does not exist.")
        return rtype

    @staticmethod
    def _external_id(value: Any, path: str = "externalId") -> str:
        text = str(value)
        if not _EXTERNAL_ID.fullmatch(text):
            raise NsError(
                400,
                f"Invalid external ID '{text}'. An external ID can contain only letters, "
                "digits, underscores (_) and hyphens (-).",
                "INVALID_CONTENT",
                path=path,
            )
        return text

    def _locate(self, conn: psycopg.Connection, rtype: str, ref: str) -> tuple[int, dict[str, Any]]:
        if ref.startswith("eid:"):
            found = self.store.get_by_external_id(conn, rtype, self._external_id(ref[4:]))
            if found is None:
                raise not_found()
            return found
        if not ref.isdigit():
            raise not_found()
        data = self.store.get(conn, rtype, int(ref))
        if data is None:
            raise not_found()
        return int(ref), data

    @staticmethod
    def _lock_external_id(conn: psycopg.Connection, rtype: str, external_id: str) -> None:
        # Serialises creates and upserts of one external id (two racing PUTs → one record).
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"{rtype}:{external_id}",)
        )

    def _check_unique(
        self, conn: psycopg.Connection, rtype: str, external_id: str, own_id: int | None
    ) -> None:
        found = self.store.get_by_external_id(conn, rtype, external_id)
        if found is not None and found[0] != own_id:
            raise user_error(
                f"Error while accessing a resource. This record already exists: a {rtype} "
                f"with the external ID '{external_id}' is record {found[0]}.",
                path="externalId",
            )

    def _reference(
        self, conn: psycopg.Connection, targets: tuple[str, ...], value: Any, path: str
    ) -> dict[str, str] | None:
        if value is None:
            return None
        if not isinstance(value, dict) or value.get("id") in (None, ""):
            raise invalid_value(json.dumps(value), path)
        rid = str(value["id"])
        row = None
        if rid.isdigit():
            row = conn.execute(
                "SELECT type, data FROM record WHERE type = ANY(%s::text[]) AND id = %s "
                "ORDER BY array_position(%s::text[], type) LIMIT 1",
                (list(targets), int(rid), list(targets)),
            ).fetchone()
        if row is None:
            raise invalid_value(rid, path)
        return {"id": rid, "refName": ref_name(row["type"], row["data"])}

    def _targets(self, rtype: str, key: str, sublist: bool) -> tuple[str, ...] | None:
        if key == "parent":
            return PARENTS.get(rtype)
        return (SUBLIST_REFERENCES if sublist else REFERENCES).get(key)

    def _prepare(
        self,
        conn: psycopg.Connection,
        rtype: str,
        existing: dict[str, Any],
        body: dict[str, Any],
        *,
        merge: bool,
        replace_sublists: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """The record after applying ``body``: references resolved, business rules checked."""
        if merge:
            data = copy.deepcopy(existing)
        else:
            data = {k: existing[k] for k in ("id", "externalId", "createdDate") if k in existing}
        for key, value in body.items():
            if key in READ_ONLY or key == "externalId":
                continue
            if _is_sublist(value):
                items = [
                    self._sublist_item(conn, rtype, key, i, item)
                    for i, item in enumerate(value["items"])
                ]
                if merge and key not in replace_sublists and _is_sublist(data.get(key)):
                    items = data[key]["items"] + items
                data[key] = {"items": items}
                continue
            targets = self._targets(rtype, key, sublist=False)
            if targets is not None:
                data[key] = self._reference(conn, targets, value, key)
            else:
                data[key] = _strip_links(value)
        self._business_rules(conn, rtype, data)
        return data

    def _sublist_item(
        self, conn: psycopg.Connection, rtype: str, sublist: str, index: int, item: Any
    ) -> dict[str, Any]:
        prefix = f"{sublist}.items[{index}]"
        if not isinstance(item, dict):
            raise invalid_value(json.dumps(item), prefix)
        line: dict[str, Any] = {}
        for key, value in item.items():
            if key == "links":
                continue
            targets = self._targets(rtype, key, sublist=True)
            if targets is not None and key != "parent":
                line[key] = self._reference(conn, targets, value, f"{prefix}.{key}")
            else:
                line[key] = _strip_links(value)
        return line

    def _business_rules(self, conn: psycopg.Connection, rtype: str, data: dict[str, Any]) -> None:
        if rtype == "timeBill":
            missing = [
                label
                for key, label in (
                    ("employee", "Employee"),
                    ("tranDate", "Date"),
                    ("hours", "Duration"),
                )
                if data.get(key) in (None, "")
            ]
            if missing:
                raise user_error(f"Please enter value(s) for: {', '.join(missing)}")
            hours = data["hours"]
            if isinstance(hours, bool) or not (
                (isinstance(hours, int | float) and hours >= 0)
                or (isinstance(hours, str) and _HOURS.fullmatch(hours.strip()))
            ):
                raise invalid_value(hours, "hours")
        if rtype == "journalEntry":
            self._check_balanced(data)
        if rtype in POSTING_TYPES:
            self._check_period_open(conn, data)

    @staticmethod
    def _check_balanced(data: dict[str, Any]) -> None:
        lines = data.get("line", {}).get("items", []) if _is_sublist(data.get("line")) else []
        if not lines:
            raise user_error(
                "You must enter at least one line item for this transaction.", path="line"
            )
        cents = Decimal("0.01")
        debit = credit = Decimal(0)
        for index, line in enumerate(lines):
            for key in ("debit", "credit"):
                if line.get(key) not in (None, ""):
                    amount = _decimal(line[key], f"line.items[{index}].{key}")
                    if key == "debit":
                        debit += amount
                    else:
                        credit += amount
        debit, credit = (v.quantize(cents, ROUND_HALF_UP) for v in (debit, credit))
        if debit != credit:
            raise user_error(
                f"The journal entry is out of balance: total debits {debit}, total credits "
                f"{credit}. The totals must be equal.",
                path="line",
            )

    def _check_period_open(self, conn: psycopg.Connection, data: dict[str, Any]) -> None:
        period = data.get("postingPeriod")
        if isinstance(period, dict) and str(period.get("id", "")).isdigit():
            found = self.store.get(conn, "accountingPeriod", int(period["id"]))
            if found is not None and found.get("closed") in (True, "T", "true"):
                raise user_error(CLOSED_PERIOD_DETAIL, path="postingPeriod")
            return
        tran_date = data.get("tranDate")
        if tran_date in (None, ""):
            return
        if not isinstance(tran_date, str) or not _ISO_DATE.fullmatch(tran_date):
            raise invalid_value(tran_date, "tranDate")
        try:
            day = date.fromisoformat(tran_date)
        except ValueError as exc:
            raise invalid_value(tran_date, "tranDate") from exc
        row = conn.execute(
            "SELECT data FROM record WHERE type = 'accountingPeriod' "
            "AND erp_date(data ->> 'startDate') <= %(d)s AND erp_date(data ->> 'endDate') >= %(d)s "
            "AND NOT coalesce(erp_bool(data ->> 'isQuarter'), false) "
            "AND NOT coalesce(erp_bool(data ->> 'isYear'), false) "
            "ORDER BY coalesce(erp_bool(data ->> 'isAdjust'), false), "
            "erp_date(data ->> 'endDate') - erp_date(data ->> 'startDate') LIMIT 1",
            {"d": day},
        ).fetchone()
        if row is not None and row["data"].get("closed") in (True, "T", "true"):
            raise user_error(CLOSED_PERIOD_DETAIL, path="tranDate")

    def _record_url(self, base: str, rtype: str, rid: int | str) -> str:
        return f"{base}{REST}/record/v1/{rtype}/{rid}"

    def _write(
        self,
        call: Call,
        rtype: str,
        work: Callable[[psycopg.Connection], tuple[Result, int | None, str | None]],
    ) -> Result:
        """Run a write in one transaction and log it; a refused write is logged too."""
        try:
            with self.store.connection() as conn:
                try:
                    result, rid, external_id = work(conn)
                except psycopg.errors.UniqueViolation as exc:
                    raise user_error(
                        "Error while accessing a resource. This record already exists.",
                        path="externalId",
                    ) from exc
                self.store.log_write(
                    conn,
                    method=call.method,
                    path=call.path,
                    status=result.status,
                    record_type=rtype,
                    record_id=rid,
                    external_id=external_id,
                    body=call.logged_body(),
                    idempotency_key=call.idempotency_key,
                )
            return result
        except NsError as err:
            with self.store.connection() as conn:
                self._log_call(conn, call, err.status, call.idempotency_key, rtype)
            raise

    def _log_call(
        self,
        conn: psycopg.Connection,
        call: Call,
        status: int,
        key: str | None,
        rtype: str | None = None,
    ) -> None:
        ref = call.params.get("rid", "")
        body = call.logged_body()
        external_id = ref[4:] if ref.startswith("eid:") else None
        if external_id is None and isinstance(body, dict) and body.get("externalId"):
            external_id = str(body["externalId"])
        if rtype is None and "rtype" in call.params:
            rtype = _TYPES_BY_LOWER.get(call.params["rtype"].lower())
        self.store.log_write(
            conn,
            method=call.method,
            path=call.path,
            status=status,
            record_type=rtype,
            record_id=int(ref) if ref.isdigit() else None,
            external_id=external_id,
            body=body,
            idempotency_key=key,
        )

    # --- record API: writes ------------------------------------------------------------------

    def create_record(self, call: Call) -> Result:
        """``POST /record/v1/{type}`` → 204 + ``Location``."""
        rtype = self._record_type(call)

        def work(conn: psycopg.Connection) -> tuple[Result, int, str | None]:
            body = call.json_object()
            external_id = None
            if body.get("externalId") not in (None, ""):
                external_id = self._external_id(body["externalId"])
                self._lock_external_id(conn, rtype, external_id)
                self._check_unique(conn, rtype, external_id, None)
            data = self._prepare(conn, rtype, {}, body, merge=False)
            rid = self.store.next_id(conn)
            result = self._save(conn, call, rtype, rid, data, external_id=external_id, created=True)
            return result, rid, external_id

        return self._write(call, rtype, work)

    def _save(
        self,
        conn: psycopg.Connection,
        call: Call,
        rtype: str,
        rid: int,
        data: dict[str, Any],
        *,
        external_id: str | None,
        created: bool,
        location: bool = True,
    ) -> Result:
        moment = _now()
        data["id"] = str(rid)
        if external_id is not None:
            data["externalId"] = external_id
        if created:
            data["createdDate"] = _stamp(moment)
        data["lastModifiedDate"] = _stamp(moment)
        self.store.put(conn, rtype, rid, data, external_id, at=moment)
        headers = {"Location": self._record_url(call.base, rtype, rid)} if location else {}
        return Result(204, headers=headers)

    def update_record(self, call: Call) -> Result:
        """``PATCH /record/v1/{type}/{id|eid:x}`` → 204 (sublists append unless ``replace``)."""
        rtype = self._record_type(call)

        def work(conn: psycopg.Connection) -> tuple[Result, int, str | None]:
            rid, existing = self._locate(conn, rtype, call.params["rid"])
            body = call.json_object()
            external_id = existing.get("externalId")
            if body.get("externalId") not in (None, "") and body["externalId"] != external_id:
                external_id = self._external_id(body["externalId"])
                self._lock_external_id(conn, rtype, external_id)
                self._check_unique(conn, rtype, external_id, rid)
            replace = frozenset(s for s in call.query.get("replace", "").split(",") if s)
            data = self._prepare(conn, rtype, existing, body, merge=True, replace_sublists=replace)
            result = self._save(
                conn,
                call,
                rtype,
                rid,
                data,
                external_id=external_id,
                created=False,
                location=False,
            )
            return result, rid, external_id

        return self._write(call, rtype, work)

    def upsert_record(self, call: Call) -> Result:
        """``PUT /record/v1/{type}/eid:{x}`` → 204: create, or replace the record with that id."""
        rtype = self._record_type(call)
        ref = call.params["rid"]
        if not ref.startswith("eid:"):
            raise NsError(
                405,
                "PUT is supported only with an external ID (upsert): "
                f"{REST}/record/v1/{rtype}/eid:<externalId>.",
                "METHOD_NOT_ALLOWED",
            )

        def work(conn: psycopg.Connection) -> tuple[Result, int, str]:
            external_id = self._external_id(ref[4:])
            body = call.json_object()
            self._lock_external_id(conn, rtype, external_id)
            found = self.store.get_by_external_id(conn, rtype, external_id)
            if found is None:
                data = self._prepare(conn, rtype, {}, body, merge=False)
                rid = self.store.next_id(conn)
            else:
                rid, existing = found
                merge = not self.switch("upsert_replaces")
                data = self._prepare(conn, rtype, existing, body, merge=merge)
            result = self._save(
                conn,
                call,
                rtype,
                rid,
                data,
                external_id=external_id,
                created=found is None,
                location=bool(self.switch("upsert_location_header")),
            )
            return result, rid, external_id

        return self._write(call, rtype, work)

    def delete_record(self, call: Call) -> Result:
        """``DELETE /record/v1/{type}/{id|eid:x}`` → 204."""
        rtype = self._record_type(call)

        def work(conn: psycopg.Connection) -> tuple[Result, int, str | None]:
            rid, existing = self._locate(conn, rtype, call.params["rid"])
            if rtype in POSTING_TYPES:
                self._check_period_open(conn, existing)
            conn.execute("DELETE FROM record WHERE type = %s AND id = %s", (rtype, rid))
            return Result(204), rid, existing.get("externalId")

        return self._write(call, rtype, work)

    # --- record API: reads -------------------------------------------------------------------

    def get_record(self, call: Call) -> Result:
        """``GET /record/v1/{type}/{id|eid:x}`` (``expandSubResources``, ``fields``)."""
        rtype = self._record_type(call)
        expand = call.query.get("expandSubResources", "").lower() == "true"
        with self.store.connection() as conn:
            rid, data = self._locate(conn, rtype, call.params["rid"])
            body = self._render(conn, call.base, rtype, rid, data, expand=expand)
        fields = [f for f in call.query.get("fields", "").split(",") if f]
        if fields:
            body = {k: v for k, v in body.items() if k == "links" or k in fields}
        return Result(200, body)

    def get_sublist(self, call: Call) -> Result:
        """``GET /record/v1/{type}/{id}/{sublist}``: the sublist, expanded."""
        rtype = self._record_type(call)
        with self.store.connection() as conn:
            rid, data = self._locate(conn, rtype, call.params["rid"])
            name = call.params["sublist"]
            if not _is_sublist(data.get(name)):
                raise not_found(f"The sublist '{name}' does not exist on this record.")
            body = self._render(conn, call.base, rtype, rid, {name: data[name]}, expand=True)
        return Result(200, body[name], media_type=MEDIA_COLLECTION)

    def _render(
        self,
        conn: psycopg.Connection,
        base: str,
        rtype: str,
        rid: int,
        data: dict[str, Any],
        *,
        expand: bool,
    ) -> dict[str, Any]:
        """A record as NetSuite answers it: links, linked references, collapsed sublists."""
        href = self._record_url(base, rtype, rid)
        refs: list[tuple[tuple[str, ...], dict[str, Any]]] = []

        def reference(targets: tuple[str, ...] | None, value: Any) -> Any:
            if targets is None or not isinstance(value, dict) or "id" not in value:
                return value
            linked = {"links": [], **value}
            refs.append((targets, linked))
            return linked

        body: dict[str, Any] = {"links": [_link("self", href)]}
        for key, value in data.items():
            if value is None or key == "links":
                continue
            if _is_sublist(value):
                sub_href = f"{href}/{key}"
                if not expand:
                    body[key] = {"links": [_link("self", sub_href)]}
                    continue
                items = [
                    {
                        k: reference(self._targets(rtype, k, True) if k != "parent" else None, v)
                        for k, v in item.items()
                        if v is not None
                    }
                    for item in value["items"]
                ]
                body[key] = {
                    "links": [_link("self", sub_href)],
                    "count": len(items),
                    "hasMore": False,
                    "items": items,
                    "offset": 0,
                    "totalResults": len(items),
                }
                continue
            body[key] = reference(self._targets(rtype, key, False), value)
        self._link_references(conn, base, refs)
        return body

    def _link_references(
        self,
        conn: psycopg.Connection,
        base: str,
        refs: list[tuple[tuple[str, ...], dict[str, Any]]],
    ) -> None:
        ambiguous = {(t, r["id"]) for t, r in refs if len(t) > 1 and str(r["id"]).isdigit()}
        kinds: dict[tuple[tuple[str, ...], str], str] = {}
        for targets, rid in ambiguous:
            row = conn.execute(
                "SELECT type FROM record WHERE type = ANY(%s::text[]) AND id = %s "
                "ORDER BY array_position(%s::text[], type) LIMIT 1",
                (list(targets), int(rid), list(targets)),
            ).fetchone()
            if row is not None:
                kinds[(targets, rid)] = row["type"]
        for targets, ref in refs:
            target = kinds.get((targets, ref["id"]), targets[0])
            ref["links"] = [_link("self", self._record_url(base, target, ref["id"]))]

    def list_records(self, call: Call) -> Result:
        """``GET /record/v1/{type}?limit&offset&q``: ids and links only."""
        rtype = self._record_type(call)
        limit, offset = _page_params(call, self.ctx.switches)
        q = call.query.get("q")
        with self.store.connection() as conn:
            compiler = Compiler(self._resolver(conn, (rtype,)))
            where = "TRUE"
            if q:
                try:
                    where = compiler.condition(parse_q(q, lambda n: compiler.resolve(n).kind))
                except QueryError as exc:
                    raise NsError(
                        400,
                        f"Invalid query parameter value 'q': {exc}",
                        "INVALID_PARAMETER",
                        query_param="q",
                    ) from exc
            params = [rtype, *compiler.params]
            total = conn.execute(
                f"SELECT count(*) AS n FROM record r WHERE r.type = %s AND {where}", params
            ).fetchone()["n"]
            rows = conn.execute(
                f"SELECT r.id FROM record r WHERE r.type = %s AND {where} "
                "ORDER BY r.id LIMIT %s OFFSET %s",
                [*params, limit, offset],
            ).fetchall()
        if rows:
            self._remember_page(call, rtype, rows[0]["id"])
        href = f"{call.base}{REST}/record/v1/{rtype}"
        links, has_more = _paging(
            href,
            [("q", q)] if q else [],
            limit=limit,
            offset=offset,
            count=len(rows),
            total=total,
        )
        items = [{"links": [_link("self", f"{href}/{r['id']}")], "id": str(r["id"])} for r in rows]
        return Result(
            200,
            {
                "links": links,
                "count": len(items),
                "hasMore": has_more,
                "items": items,
                "offset": offset,
                "totalResults": total,
            },
            media_type=MEDIA_COLLECTION,
        )

    # --- SuiteQL -----------------------------------------------------------------------------

    def _resolver(
        self, conn: psycopg.Connection, types: tuple[str, ...]
    ) -> Callable[[str], Column]:
        cache: dict[str, Column] = {}

        def resolve(name: str) -> Column:
            lowered = name.lower()
            if lowered in cache:
                return cache[lowered]
            column = static_column(types, name)
            if column is None:
                # A field outside the static lists, when some record carries it.
                row = conn.execute(
                    "SELECT k.key, r.data -> k.key AS sample FROM record r, "
                    "jsonb_object_keys(r.data) AS k(key) "
                    "WHERE r.type = ANY(%s::text[]) AND lower(k.key) = %s LIMIT 1",
                    (list(types), lowered),
                ).fetchone()
                if row is None or _is_sublist(row["sample"]):
                    raise QueryError(f"Search error occurred: Field '{name}' not found.")
                column = Column(row["key"], infer_kind(row["sample"]))
            cache[lowered] = column
            return column

        return resolve

    def suiteql(self, call: Call) -> Result:
        """``POST /query/v1/suiteql?limit&offset`` with ``{"q": "SELECT ..."}``."""
        body = call.json_object()
        text = body.get("q")
        if not isinstance(text, str):
            raise NsError(
                400,
                "Invalid content in the request body: 'q' must be a string.",
                "INVALID_CONTENT",
                path="q",
            )
        params = body.get("params") or []
        limit, offset = _page_params(call, self.ctx.switches)
        cap = int(self.switch("suiteql_max_results"))
        if offset >= cap:
            raise NsError(
                400,
                f"Invalid query parameter value: offset={offset}. A query can "
                f"page through at most {cap} results.",
                "INVALID_PARAMETER",
                query_param="offset",
            )
        try:
            with self.store.connection() as conn:
                query = parse_suiteql(text, params if isinstance(params, list) else [])
                return self._run_suiteql(conn, call, query, limit=limit, offset=offset, cap=cap)
        except QueryError as exc:
            raise NsError(400, str(exc), "USER_ERROR", title="Invalid search query.") from exc

    def _run_suiteql(
        self,
        conn: psycopg.Connection,
        call: Call,
        query: Query,
        *,
        limit: int,
        offset: int,
        cap: int,
    ) -> Result:
        resolve = self._resolver(conn, query.types)
        compiler = Compiler(resolve)
        where = compiler.condition(query.where) if query.where is not None else "TRUE"
        single = len(query.types) == 1
        # One type compares with "=", so the (type, ...) indexes serve the order as well.
        type_sql = "r.type = %s" if single else "r.type = ANY(%s::text[])"
        type_param: Any = query.types[0] if single else list(query.types)
        total = conn.execute(
            f"SELECT count(*) AS n FROM record r WHERE {type_sql} AND {where}",
            [type_param, *compiler.params],
        ).fetchone()["n"]
        options = OutputOptions(
            as_strings=bool(self.switch("suiteql_values_as_strings")),
            date_format=str(self.switch("suiteql_date_format")),
        )
        href = f"{call.base}{REST}/query/v1/suiteql"
        if query.count:
            key = query.items[0].key if query.items else "expr1"
            value: Any = str(total) if options.as_strings else total
            links, _ = _paging(href, [], limit=limit, offset=offset, count=1, total=1)
            return Result(
                200,
                {
                    "links": links,
                    "count": 1,
                    "hasMore": False,
                    "items": [{"links": [], key: value}],
                    "offset": 0,
                    "totalResults": 1,
                },
                media_type=MEDIA_COLLECTION,
            )
        columns = [(item, resolve(item.column)) for item in query.items or [] if item.column]
        aliases = {item.key: column for item, column in columns}
        order = [(aliases.get(name.lower()) or resolve(name), desc) for name, desc in query.order]
        order_sql = compiler.order_by(order, by_type=not single)
        rows = conn.execute(
            f"SELECT r.id, r.type, r.data FROM record r WHERE {type_sql} AND {where} "
            f"ORDER BY {order_sql} LIMIT %s OFFSET %s",
            [type_param, *compiler.params, min(limit, cap - offset), offset],
        ).fetchall()
        if rows:
            self._remember_page(call, rows[0]["type"], rows[0]["id"])
        omit_nulls = bool(self.switch("suiteql_omit_nulls"))
        items = []
        for row in rows:
            item: dict[str, Any] = {"links": []}
            if query.items is None:
                pairs = self._star_columns(query.types, row["data"])
            else:
                pairs = [(i.key, c, i) for i, c in columns]
            for key, column, select in pairs:
                value = self._select_value(select, column, row, options)
                if value is None and omit_nulls:
                    continue
                item[key] = value
            items.append(item)
        links, has_more = _paging(
            href, [], limit=limit, offset=offset, count=len(items), total=min(total, cap)
        )
        return Result(
            200,
            {
                "links": links,
                "count": len(items),
                "hasMore": has_more,
                "items": items,
                "offset": offset,
                "totalResults": total,
            },
            media_type=MEDIA_COLLECTION,
        )

    @staticmethod
    def _star_columns(
        types: tuple[str, ...], data: dict[str, Any]
    ) -> list[tuple[str, Column, Any]]:
        pairs: list[tuple[str, Column, Any]] = [("id", Column("id", Kind.ID), None)]
        for key, value in data.items():
            if key in ("id", "links") or _is_sublist(value):
                continue
            column = static_column(types, key) or Column(key, infer_kind(value))
            pairs.append((key.lower(), column, None))
        return pairs

    @staticmethod
    def _select_value(
        select: Any, column: Column, row: dict[str, Any], options: OutputOptions
    ) -> Any:
        function = getattr(select, "function", None)
        if function == "builtin.df":
            value = display_value(column, row["data"])
        elif function == "to_char":
            value = to_char(column, row["data"], select.argument, row["id"])
        else:
            return output_value(column, row["id"], row["type"], row["data"], options)
        return None if value in (None, "") else str(value)

    # --- faults ------------------------------------------------------------------------------

    def _remember_page(self, call: Call, rtype: str, first_id: int) -> None:
        with self._pages_lock:
            self._pages[(call.path, call.query_string)] = (rtype, first_id)
            while len(self._pages) > 256:
                self._pages.popitem(last=False)

    def insert_ahead(self, path: str, query: str, count: int) -> None:
        """Insert ``count`` copies of the page's first record with free ids just below it."""
        with self._pages_lock:
            page = self._pages.get((path.rstrip("/"), query))
        if page is None:
            return
        rtype, first_id = page
        with self.store.connection() as conn:
            source = conn.execute(
                "SELECT data, updated_at FROM record WHERE type = %s AND id = %s",
                (rtype, first_id),
            ).fetchone()
            if source is None:
                return
            free = conn.execute(
                "SELECT s.id FROM generate_series(%(first)s - 1, 1, -1) AS s(id) "
                "WHERE NOT EXISTS (SELECT 1 FROM record r WHERE r.type = %(t)s AND r.id = s.id) "
                "LIMIT %(n)s",
                {"first": first_id, "t": rtype, "n": count},
            ).fetchall()
            for row in free:
                data = {k: v for k, v in source["data"].items() if k != "externalId"}
                data["id"] = str(row["id"])
                self.store.put(conn, rtype, row["id"], data, None, at=source["updated_at"])


def _prefers_async(prefer: str) -> bool:
    return any(p.split(";")[0].strip().lower() == "respond-async" for p in prefer.split(","))
