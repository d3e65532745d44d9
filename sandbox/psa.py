"""Kantata OX (ex-Mavenlink) API v1 emulator: the sandbox's PSA.

The service answers in Kantata's wire format (``shared/reference/api-wire-formats.md`` §1), so
ps-sync's PSA hook runs against it unchanged: only the base URL and the bearer token differ.
Records come from the ``record`` table in the storage contract's shapes (``sandbox/README.md``)
and are served as stored.

Routes (every path also answers with a ``.json`` suffix, e.g. ``/api/v1/time_entries.json``):

=========================================  ==================================================
``GET  /api/v1/{collection}``              list ``workspaces users stories time_entries
                                           expenses invoices roles rate_cards
                                           rate_card_versions rate_card_roles
                                           expense_categories timesheet_submissions
                                           external_references``
``GET  /api/v1/{collection}/{id}``         show one; 404 ``{"errors":[{"type":"system",
                                           "message":"Not found"}]}`` when missing or hidden
``GET  /api/v1/users/me``                  the token's user (switch ``me_user_id``)
``POST /api/v1/time_entries``              ``{"time_entry": {...}}`` or bulk
                                           ``{"time_entries": [...]}`` (at most 100)
``PUT|DELETE /api/v1/time_entries/{id}``   update, delete (204); ``DELETE
                                           /api/v1/time_entries?ids=1,2`` deletes all or none
``POST|PUT /api/v1/workspaces[/{id}]``     create, update (``workspace`` root key)
``POST|PUT /api/v1/users[/{id}]``          create, update (``user`` root key)
``POST|PUT /api/v1/external_references``   cross-references; a new one is appended to its
                                           subject's ``external_reference_ids``
``PUT  /api/v1/invoices/{id}``             ``status``, ``payment_status`` and a few other fields
=========================================  ==================================================

Every request needs ``Authorization: Bearer <token>`` (the sandbox's ``psa`` credential);
otherwise 401 with the ``unauthorized_body`` switch as body.

Lists (§1.2, §1.3, following ``mavenlink/brainstem``'s ``presenter_collection.rb``):
``count``, ``meta{count,page_count,page_number,page_size}``, ``results`` (ordered
``{"key","id"}``), the objects keyed by id under the collection key, and one top-level key per
requested ``include=`` (present even when empty; unknown includes are ignored). ``page``
(default 1) and ``per_page`` (default 20, clamped to ``max_per_page``; below 1 means 20), or
``limit`` + ``offset`` together. ``page_number`` echoes the requested page, 0 when ``count`` is 0.
``order=<field>:asc|desc`` over ``id``, ``created_at``, ``updated_at`` and the collection's own
sort fields (``date_performed``, ``date``, ``title``, ...); an unknown field falls back to the
default order (``id:asc``; expenses ``date:desc``), ties broken by id in the same direction.

Filters: ``only=1,2``; ``updated_after|updated_before|created_after|created_before`` (ISO 8601,
strict, on every collection); ``date_performed_between`` (time entries) and
``date_expensed_between`` (expenses) as ``YYYY-MM-DD:YYYY-MM-DD``, either side open; id and
status filters per collection (``workspace_id``, ``user_id``, ``story_id``, ``rate_card_id``,
``subject_type``, ``service_name``, ...; comma lists allowed); ``approved`` on time entries and
expenses with Kantata's documented quirk: **present with any value means approved-only**
(``approved=false`` too). Archived workspaces are hidden unless ``include_archived=true``
(a show is then 404); time entries, expenses and stories of archived workspaces are hidden
unless ``from_archived_workspaces=true`` (``mavenlink_gem`` sends it "to ensure we get hidden
workspaces"); archived stories are hidden unless ``show_archived=true`` or ``archived=include``
(``archived=only``: archived only). A malformed filter value answers 400 ``syntax``.

Writes follow Rails strong parameters: unknown attributes are ignored; ids are stored as strings.
Validation failures answer ``validation_status`` with brainstem's ``{"errors":[{"type":
"validation","field":...,"message":...,"index":i}]}``; a bulk create with any invalid item
creates nothing. Every write sets ``updated_at`` (second precision, like the vendor's strings),
is stored with :meth:`~sandbox.store.VendorStore.put` and recorded with ``log_write``; writes
rejected by validation (422) or for a missing record (404) are recorded too, with their status
(malformed requests, 400, are not). New time entries take their currency from the workspace,
their rate from the workspace's rate card (the version in effect on ``date_performed``, the
entry's role) unless given, and ``approved`` when the workspace does not require approvals.

Switches (``PATCH /_sandbox/switches/psa``; all behaviour the reference marks [U]):

``max_per_page`` (200)
    Clamp of ``per_page`` and ``limit``. The gem's spec hints 5000 for time entries.
``retry_after`` (None)
    Seconds (``5``) or ``"date:5"`` (HTTP-date) sent as ``Retry-After`` on the service's own
    429s and on injected 429/503s without one; None sends no header.
``rate_limit_per_second`` (0)
    A token bucket over every API request (burst = one second's worth); 0 disables it.
``workspaces_rate_limit_per_second`` (0)
    The extra bucket of ``/workspaces``, which Kantata limits on its own.
``timestamp_style`` ("offset")
    ``"offset"``: stored timestamps as stored, new ones in ``time_zone`` (``-07:00``);
    ``"z"``: every ``created_at``/``updated_at`` answered in UTC with ``Z``.
``time_zone`` ("America/Los_Angeles")
    The account's zone for timestamps the service writes in ``"offset"`` style.
``create_status`` (200)
    Status of a successful POST (200 or 201).
``validation_status`` (422)
    Status of a validation error (400 or 422).
``unauthorized_body`` (``{"errors":[{"type":"authentication","message":...}]}``)
    Body of the 401 for a missing, wrong or expired token.
``me_user_id`` (None)
    The token's user for ``/users/me`` and new records' defaults; None = the lowest user id.

Performance: a list page is one SQL statement (autocommit, one round trip) that returns the
stored ``data::text`` of the page and of its includes; the envelope is concatenated around
them, never decoding documents in Python. The ordered ids matching a query are computed once
(PostgreSQL packs them into one ``bytea``) and cached per query signature; a statement-level
trigger bumps ``psa_generation`` on every change of ``record``, and each page statement also
returns the generation it read, so a stale cache is noticed and the ids and the page are read
again in one REPEATABLE READ snapshot. Deep pages cost as much as the first, also at 10^6 time
entries (no OFFSET scans, no ``count(*)`` per page).
"""

from __future__ import annotations

import hmac
import json
import math
import re
import sys
import threading
import time
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from http import HTTPStatus
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import psycopg
from fastapi import FastAPI, Request
from psycopg import IsolationLevel
from psycopg.rows import tuple_row
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from sandbox.faults import FaultRule, VendorResponses, retry_after_header
from sandbox.vendor import Vendor, VendorContext

DEFAULT_PER_PAGE = 20
BULK_LIMIT = 100
MISSING_PARAMETERS = (
    "Missing required parameters. Please see our documentation at http://developer.mavenlink.com"
)
ARCHIVED = "coalesce((data->>'archived')::boolean, false)"
IN_ARCHIVED_WORKSPACE = (
    "coalesce(data->>'workspace_id', '') = ANY(ARRAY(SELECT w.id::text FROM record w "
    "WHERE w.type = 'workspaces' AND coalesce((w.data->>'archived')::boolean, false)))"
)
CURRENCY_SYMBOLS = {"USD": "$", "CAD": "$", "AUD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW"})
# Kantata subject types of external references → the collection holding the subject.
SUBJECT_TYPES = {
    "Workspace": "workspaces",
    "User": "users",
    "TimeEntry": "time_entries",
    "Expense": "expenses",
    "Story": "stories",
    "Invoice": "invoices",
}
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
RUBY_INT_RE = re.compile(r"\s*([-+]?\d+)")
TRUTHY = frozenset({"true", "t", "1", "yes", "y", "on"})


# --- collections -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Include:
    """An association that ``include=`` adds under its own top-level key.

    Attributes:
        key: the top-level key (collection) of the associated objects.
        field: the field of the presented record holding the id (or, when ``many``, the ids).
        many: whether ``field`` is an array of ids.
    """

    key: str
    field: str
    many: bool = False


@dataclass(frozen=True)
class Attr:
    """A writable attribute: how a request value is checked and stored.

    Attributes:
        kind: ``id`` (stored as a string), ``int``, ``bool``, ``text`` or ``date``.
        ref: for ids, the collection the id must exist in.
        minimum: for ints, the smallest valid value.
    """

    kind: Literal["id", "int", "bool", "text", "date"]
    ref: str | None = None
    minimum: int | None = None


@dataclass(frozen=True)
class Collection:
    """What the API offers on one collection (its key is the record ``type``).

    Attributes:
        key: collection key, path segment and record type.
        singular: root key of a single object in write requests.
        default_order: ``field:direction`` used when ``order`` is absent or unknown.
        orders: sort fields beyond ``id``, ``created_at``, ``updated_at`` → SQL expression.
        equals: query parameter → ``data`` field compared for equality (comma lists allowed).
        contains: query parameter → ``data`` array field that must contain the value.
        between: ``*_between`` query parameter → ``data`` date field.
        approvable: has the ``approved`` filter.
        archivable: records are archived themselves (hidden by default).
        in_workspace: records of archived workspaces are hidden by default.
        includes: ``include=`` names → association.
        attrs: writable attributes.
        required: attributes a create needs.
        writes: HTTP methods that change the collection.
        referenced: has ``external_reference_ids`` (and the nested ``external_reference``).
    """

    key: str
    singular: str = ""
    default_order: str = "id:asc"
    orders: Mapping[str, str] = field(default_factory=dict)
    equals: Mapping[str, str] = field(default_factory=dict)
    contains: Mapping[str, str] = field(default_factory=dict)
    between: Mapping[str, str] = field(default_factory=dict)
    approvable: bool = False
    archivable: bool = False
    in_workspace: bool = False
    includes: Mapping[str, Include] = field(default_factory=dict)
    attrs: Mapping[str, Attr] = field(default_factory=dict)
    required: tuple[str, ...] = ()
    writes: frozenset[str] = frozenset()
    referenced: bool = False


def _one(key: str, fld: str) -> Include:
    return Include(key, fld)


def _many(key: str, fld: str) -> Include:
    return Include(key, fld, many=True)


EXTERNAL_REFERENCES = _many("external_references", "external_reference_ids")
EXTERNAL_REFERENCE_ATTRS: dict[str, Attr] = {
    "subject_type": Attr("text"),
    "subject_id": Attr("id"),
    "service_name": Attr("text"),
    "service_model": Attr("text"),
    "service_model_ref": Attr("text"),
    "status": Attr("text"),
    "external_status": Attr("text"),
    "external_message": Attr("text"),
    "external_link": Attr("text"),
    "locked": Attr("bool"),
}
NESTED_REFERENCE_REQUIRED = ("service_name", "service_model", "service_model_ref")

COLLECTIONS: dict[str, Collection] = {
    c.key: c
    for c in (
        Collection(
            "workspaces",
            singular="workspace",
            orders={"title": "(data->>'title')", "start_date": "(data->>'start_date')"},
            archivable=True,
            includes={
                "rate_card": _one("rate_cards", "rate_card_id"),
                "external_references": EXTERNAL_REFERENCES,
            },
            attrs={
                "title": Attr("text"),
                "description": Attr("text"),
                "start_date": Attr("date"),
                "due_date": Attr("date"),
                "price_in_cents": Attr("int", minimum=0),
                "currency": Attr("text"),
                "archived": Attr("bool"),
                "rate_card_id": Attr("id", ref="rate_cards"),
                "require_time_approvals": Attr("bool"),
                "require_expense_approvals": Attr("bool"),
            },
            required=("title",),
            writes=frozenset({"POST", "PUT"}),
            referenced=True,
        ),
        Collection(
            "users",
            singular="user",
            orders={"full_name": "(data->>'full_name')"},
            includes={"external_references": EXTERNAL_REFERENCES},
            attrs={
                "full_name": Attr("text"),
                "email_address": Attr("text"),
                "headline": Attr("text"),
                "disabled": Attr("bool"),
            },
            required=("full_name", "email_address"),
            writes=frozenset({"POST", "PUT"}),
            referenced=True,
        ),
        Collection(
            "stories",
            equals={"workspace_id": "workspace_id", "story_type": "story_type", "state": "state"},
            archivable=True,
            in_workspace=True,
            includes={"workspace": _one("workspaces", "workspace_id")},
        ),
        Collection(
            "time_entries",
            singular="time_entry",
            orders={"date_performed": "(data->>'date_performed')"},
            equals={f: f for f in ("workspace_id", "user_id", "story_id", "role_id", "invoice_id")},
            between={"date_performed_between": "date_performed"},
            approvable=True,
            in_workspace=True,
            includes={
                "user": _one("users", "user_id"),
                "workspace": _one("workspaces", "workspace_id"),
                "story": _one("stories", "story_id"),
                "role": _one("roles", "role_id"),
                "invoice": _one("invoices", "invoice_id"),
                "active_submission": _one("timesheet_submissions", "active_submission_id"),
                "recent_submission": _one("timesheet_submissions", "recent_submission_id"),
                "external_references": EXTERNAL_REFERENCES,
            },
            attrs={
                "workspace_id": Attr("id", ref="workspaces"),
                "date_performed": Attr("date"),
                "time_in_minutes": Attr("int", minimum=1),
                "billable": Attr("bool"),
                "notes": Attr("text"),
                "rate_in_cents": Attr("int", minimum=0),
                "cost_rate_in_cents": Attr("int", minimum=0),
                "role_id": Attr("id", ref="roles"),
                "story_id": Attr("id", ref="stories"),
                "user_id": Attr("id", ref="users"),
                "location": Attr("text"),
            },
            required=("workspace_id", "date_performed", "time_in_minutes"),
            writes=frozenset({"POST", "PUT", "DELETE"}),
            referenced=True,
        ),
        Collection(
            "expenses",
            default_order="date:desc",
            orders={"date": "(data->>'date')"},
            equals={
                f: f
                for f in ("workspace_id", "user_id", "story_id", "role_id", "expense_category_id")
            },
            between={"date_expensed_between": "date"},
            approvable=True,
            in_workspace=True,
            includes={
                "user": _one("users", "user_id"),
                "workspace": _one("workspaces", "workspace_id"),
                "story": _one("stories", "story_id"),
                "role": _one("roles", "role_id"),
                "expense_category": _one("expense_categories", "expense_category_id"),
            },
        ),
        Collection(
            "invoices",
            singular="invoice",
            orders={"invoice_date": "(data->>'invoice_date')"},
            equals={"status": "status", "payment_status": "payment_status"},
            contains={"workspace_id": "workspace_ids"},
            includes={
                "workspaces": _many("workspaces", "workspace_ids"),
                "time_entries": _many("time_entries", "time_entry_ids"),
                "expenses": _many("expenses", "expense_ids"),
            },
            attrs={
                "status": Attr("text"),
                "payment_status": Attr("text"),
                "user_invoice_number": Attr("text"),
                "purchase_order": Attr("text"),
                "due_date": Attr("date"),
                "draft": Attr("bool"),
            },
            writes=frozenset({"PUT"}),
        ),
        Collection("roles", orders={"name": "(data->>'name')"}),
        Collection(
            "rate_cards",
            equals={"workspace_id": "workspace_id"},
            includes={"workspace": _one("workspaces", "workspace_id")},
        ),
        Collection(
            "rate_card_versions",
            orders={"effective_date": "(data->>'effective_date')"},
            equals={"rate_card_id": "rate_card_id"},
            includes={"rate_card": _one("rate_cards", "rate_card_id")},
        ),
        Collection(
            "rate_card_roles",
            equals={"rate_card_version_id": "rate_card_version_id", "role_id": "role_id"},
            includes={
                "rate_card_version": _one("rate_card_versions", "rate_card_version_id"),
                "role": _one("roles", "role_id"),
            },
        ),
        Collection("expense_categories", orders={"name": "(data->>'name')"}),
        Collection(
            "timesheet_submissions",
            orders={"start_date": "(data->>'start_date')"},
            equals={"workspace_id": "workspace_id", "user_id": "user_id", "status": "status"},
            includes={
                "user": _one("users", "user_id"),
                "workspace": _one("workspaces", "workspace_id"),
                "time_entries": _many("time_entries", "time_entry_ids"),
            },
        ),
        Collection(
            "external_references",
            singular="external_reference",
            equals={f: f for f in ("subject_type", "subject_id", "service_name", "service_model")}
            | {"service_model_ref": "service_model_ref", "status": "status"},
            attrs=EXTERNAL_REFERENCE_ATTRS,
            required=("subject_type", "subject_id", *NESTED_REFERENCE_REQUIRED),
            writes=frozenset({"POST", "PUT"}),
        ),
    )
}

DDL = """
CREATE INDEX IF NOT EXISTS psa_date_performed_idx ON record (type, (data->>'date_performed'), id);
CREATE INDEX IF NOT EXISTS psa_date_idx ON record (type, (data->>'date'), id);
CREATE INDEX IF NOT EXISTS psa_approved_idx ON record (type, ((data->>'approved')::boolean), id);
CREATE INDEX IF NOT EXISTS psa_workspace_idx ON record (type, (data->>'workspace_id'), id);
CREATE INDEX IF NOT EXISTS psa_user_idx ON record (type, (data->>'user_id'), id);
CREATE INDEX IF NOT EXISTS psa_created_idx ON record (type, created_at, id);
-- Bumped by every statement that changes `record` (API writes, seeding, reset), so cached
-- id lists of list queries are checked against the snapshot they are served from.
CREATE TABLE IF NOT EXISTS psa_generation (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    generation bigint NOT NULL DEFAULT 0
);
INSERT INTO psa_generation (singleton) VALUES (true) ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION psa_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE psa_generation SET generation = generation + 1;
    RETURN NULL;
END
$$;
CREATE OR REPLACE TRIGGER psa_record_generation
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON record
    FOR EACH STATEMENT EXECUTE FUNCTION psa_bump_generation();
-- created_at/updated_at rewritten in UTC with a Z (timestamp_style "z").
CREATE OR REPLACE FUNCTION psa_utc(doc jsonb) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT doc || jsonb_strip_nulls(jsonb_build_object(
        'created_at', to_char((doc->>'created_at')::timestamptz AT TIME ZONE 'UTC',
                              'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'updated_at', to_char((doc->>'updated_at')::timestamptz AT TIME ZONE 'UTC',
                              'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
$$;
"""


# --- errors and small parsers ----------------------------------------------------------------


class KantataError(Exception):
    """An error answered in Kantata's format.

    Args:
        status: HTTP status.
        body: the JSON body (``{"errors": [...]}``).
        headers: extra response headers.
    """

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def error_body(kind: str, message: str) -> dict[str, Any]:
    """Kantata's ``{"errors": [{"type": kind, "message": message}]}``."""
    return {"errors": [{"type": kind, "message": message}]}


def _json_response(body: Any, status: int, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        content=json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )


def _not_found() -> KantataError:
    return KantataError(404, error_body("system", "Not found"))


def _syntax(message: str) -> KantataError:
    return KantataError(400, error_body("syntax", message))


def _ruby_int(value: str | None, default: int) -> int:
    """Ruby's ``String#to_i`` (leading integer, else 0), which brainstem applies to paging."""
    if value is None:
        return default
    match = RUBY_INT_RE.match(value)
    return int(match.group(1)) if match else 0


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in TRUTHY


def _timestamp(name: str, value: str) -> datetime:
    """An ISO 8601 filter value (naive values are UTC)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _syntax(f"{name} must be an ISO 8601 date or time, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _date_range(name: str, value: str) -> tuple[str | None, str | None]:
    """``YYYY-MM-DD:YYYY-MM-DD`` with either side open."""
    low, sep, high = value.partition(":")
    bounds = (low.strip() or None, high.strip() or None)
    if not sep or not all(b is None or _is_date(b) for b in bounds):
        raise _syntax(f"{name} must look like YYYY-MM-DD:YYYY-MM-DD, got {value!r}")
    return bounds


def _is_date(value: str) -> bool:
    if not DATE_RE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _record_id(value: str) -> int | None:
    text = value.removesuffix(".json")
    return int(text) if text.isdigit() and len(text) <= 18 else None


def _humanize(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _validation(fld: str, message: str, index: int) -> dict[str, Any]:
    return {"type": "validation", "field": fld, "message": message, "index": index}


def _coerce_number(attr: Attr, value: Any) -> tuple[Any, str | None]:
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and re.fullmatch(r"[-+]?\d+", value.strip()):
        number = int(value)
    if number is None:
        return None, "is invalid" if attr.kind == "id" else "is not a number"
    if attr.kind == "id":
        return str(number), None
    if attr.minimum is not None and number < attr.minimum:
        bound = "greater than 0" if attr.minimum == 1 else f"at least {attr.minimum}"
        return None, f"must be {bound}"
    return number, None


def _coerce_bool(attr: Attr, value: Any) -> tuple[Any, str | None]:
    text = str(value).strip().lower()
    if isinstance(value, bool) or text in ("true", "false", "1", "0"):
        return value if isinstance(value, bool) else text in ("true", "1"), None
    return None, "is not included in the list"


def _coerce_date(attr: Attr, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and _is_date(value):
        return value, None
    return None, "is not a valid date"


def _coerce_text(attr: Attr, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value), None
    return None, "is invalid"


COERCIONS: dict[str, Callable[[Attr, Any], tuple[Any, str | None]]] = {
    "id": _coerce_number,
    "int": _coerce_number,
    "bool": _coerce_bool,
    "date": _coerce_date,
    "text": _coerce_text,
}


def _coerce(attr: Attr, value: Any) -> tuple[Any, str | None]:
    """Cast a request value like Rails would; returns (value, error suffix or None)."""
    if value is None or value == "":
        return None, None
    return COERCIONS[attr.kind](attr, value)


def _parse_body(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw or b"null")
    except ValueError:
        raise _syntax("The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise _syntax(MISSING_PARAMETERS)
    return payload


def _as_datetime(stamp: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        return None


# --- list queries, the id cache and pages ------------------------------------------------------


@dataclass(frozen=True)
class ListQuery:
    """A parsed list request: which records, in which order, which page, which includes."""

    spec: Collection
    where: tuple[str, ...]
    values: Mapping[str, Any]
    order_field: str
    descending: bool
    order_sql: str
    includes: tuple[str, ...]
    limit: int
    offset: int
    page_number: int
    page_size: int

    def window(self, ids: array) -> list[int]:
        """The ids of the requested page."""
        return ids[self.offset : self.offset + self.limit].tolist()

    @property
    def signature(self) -> str:
        """What identifies the matching ids (not the page or the includes)."""
        return repr((self.spec.key, self.where, sorted(self.values.items()), self.order_sql))


@dataclass
class Page:
    """The served objects of one page, as JSON text, and the generation they were read at."""

    generation: int
    main: list[tuple[int, str]]
    included: dict[str, dict[int, str]]


class IdCache:
    """LRU cache of query signature → (generation, ordered matching ids), bounded in ids.

    Args:
        max_ids: total ids kept over all entries (8 bytes each).
    """

    def __init__(self, max_ids: int = 8_000_000) -> None:
        self._entries: OrderedDict[str, tuple[int, array]] = OrderedDict()
        self._size = 0
        self._max_ids = max_ids
        self._lock = threading.Lock()

    def get(self, signature: str) -> tuple[int, array] | None:
        """The cached entry, marked as recently used."""
        with self._lock:
            entry = self._entries.get(signature)
            if entry is not None:
                self._entries.move_to_end(signature)
            return entry

    def put(self, signature: str, generation: int, ids: array) -> None:
        """Remember an entry, evicting the least recently used beyond the bound."""
        with self._lock:
            old = self._entries.pop(signature, None)
            self._size -= len(old[1]) if old else 0
            self._entries[signature] = (generation, ids)
            self._size += len(ids)
            while self._size > self._max_ids and len(self._entries) > 1:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._size -= len(evicted)


class TokenBucket:
    """A token bucket refilled at ``rate`` tokens a second, holding one second's worth."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rate = 0.0
        self._tokens = 0.0
        self._stamp = time.monotonic()

    def take(self, rate: float) -> bool:
        """Take a token; False when the bucket is empty. ``rate`` 0 never throttles."""
        if rate <= 0:
            return True
        with self._lock:
            now = time.monotonic()
            capacity = max(1.0, rate)
            if rate != self._rate:  # a new limit starts with a full bucket
                self._rate, self._tokens = rate, capacity
            else:
                self._tokens = min(capacity, self._tokens + (now - self._stamp) * rate)
            self._stamp = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


# --- the service -------------------------------------------------------------------------------


class KantataResponses(VendorResponses):
    """Kantata's answers to injected faults.

    Args:
        vendor: the service (for its switches and its store).
    """

    def __init__(self, vendor: KantataVendor) -> None:
        self.vendor = vendor

    def status(self, rule: FaultRule) -> Response:
        """Kantata's error body for an injected status: 429 ``Too Many Requests``, 5xx by name."""
        if rule.status == 401:
            return self.token_expired()
        if rule.status == 404:
            return _json_response(error_body("system", "Not found"), 404)
        try:
            message = HTTPStatus(rule.status).phrase
        except ValueError:
            message = "Error"
        headers = {}
        if rule.retry_after is None and rule.status in (429, 503):
            headers = self.vendor.retry_after()
        return _json_response(error_body("system", message), rule.status, headers)

    def token_expired(self) -> Response:
        """The 401 of a missing, wrong or expired token (switch ``unauthorized_body``)."""
        return _json_response(
            self.vendor.ctx.switches["unauthorized_body"],
            401,
            {"WWW-Authenticate": 'Bearer realm="Kantata OX"'},
        )

    def concurrency_exceeded(self, rule: FaultRule) -> Response:
        """Kantata has no concurrency error of its own: 429 ``Too Many Requests``."""
        return _json_response(
            error_body("system", "Too Many Requests"), 429, self.vendor.retry_after()
        )

    def insert_while_paging(self, path: str, query: str, count: int) -> None:
        """Insert ``count`` records that sort ahead of the page just served.

        Only lists of ``time_entries`` and ``expenses`` are affected. The request is parsed
        again (same filters, order and page) and the first record of the page it served is the
        template: each new record is a copy of it (same workspace, user, date, ``approved``, so
        it matches the same filters) with a new id, ``external_reference_ids`` empty and not
        invoiced. Its position comes from the id, the order's tie-breaker:

        * descending orders (expenses' default ``date:desc``, ``order=id:desc``, ...): ids from
          ``record_id_seq``, above every id, so the copies sort right before the template;
        * ascending orders (time entries' default ``id:asc``, ``order=date_performed:asc``):
          the largest free ids below the template's id. Fewer (or no) records are inserted when
          fewer free ids exist below it: the generator's ids need gaps for this case.

        Either way every later page starts ``count`` records earlier, so a pager that does not
        dedupe sees the last ``count`` records of this page again on the next one, and
        ``meta.count`` grows by ``count``. ``created_at``/``updated_at`` are now, unless the
        request orders by them or bounds them from above (``created_before``/``updated_before``);
        then the template's are kept, so the copies still match and tie. Requests with
        ``only=`` see no change (the new ids are not listed). The insertion runs after the
        response is sent (see ``FaultMiddleware``).
        """
        self.vendor.insert_ahead(path, query, count)


class KantataVendor(Vendor):
    """The Kantata OX API v1 service of the sandbox (see the module docstring)."""

    name: ClassVar[str] = "psa"
    title: ClassVar[str] = "Kantata OX API v1 (sandbox)"
    ddl: ClassVar[str] = DDL
    default_switches: ClassVar[dict[str, Any]] = {
        "max_per_page": 200,
        "retry_after": None,
        "rate_limit_per_second": 0,
        "workspaces_rate_limit_per_second": 0,
        "timestamp_style": "offset",
        "time_zone": "America/Los_Angeles",
        "create_status": 200,
        "validation_status": 422,
        "unauthorized_body": error_body(
            "authentication", "The access token is missing, invalid or expired."
        ),
        "me_user_id": None,
    }

    def __init__(self, ctx: VendorContext) -> None:
        super().__init__(ctx)
        self._ids_cache = IdCache()
        self._bucket = TokenBucket()
        self._workspaces_bucket = TokenBucket()

    # --- wiring ------------------------------------------------------------------------------

    def responses(self) -> VendorResponses:
        """Kantata's fault answers."""
        return KantataResponses(self)

    def routes(self, app: FastAPI) -> None:
        """Add the ``/api/v1`` routes and Kantata-shaped error handlers."""
        app.add_exception_handler(KantataError, _error_handler)  # type: ignore[arg-type]
        app.add_exception_handler(StarletteHTTPException, _http_error_handler)  # type: ignore[arg-type]
        app.add_exception_handler(Exception, _server_error_handler)
        app.add_api_route("/api/v1/{collection}", self.list_records, methods=["GET"])
        app.add_api_route("/api/v1/{collection}/{rid}", self.show_record, methods=["GET"])
        app.add_api_route("/api/v1/{collection}", self.create_records, methods=["POST"])
        app.add_api_route("/api/v1/{collection}/{rid}", self.update_record, methods=["PUT"])
        app.add_api_route("/api/v1/{collection}/{rid}", self.delete_record, methods=["DELETE"])
        app.add_api_route("/api/v1/{collection}", self.delete_records, methods=["DELETE"])

    def retry_after(self) -> dict[str, str]:
        """The ``Retry-After`` header of the ``retry_after`` switch (empty when None)."""
        value = self.ctx.switches.get("retry_after")
        return retry_after_header(None if value is None else str(value))

    # --- endpoints -----------------------------------------------------------------------------

    def list_records(self, collection: str, request: Request) -> Response:
        """``GET /api/v1/{collection}``: one page of the collection."""
        spec = self._collection(collection, request)
        query = self._list_query(spec, request.query_params)
        with self._reader() as conn:
            count, page = self._select(conn, query, cache=True)
        return self._respond(query, count, page)

    def show_record(self, collection: str, rid: str, request: Request) -> Response:
        """``GET /api/v1/{collection}/{id}`` and ``/users/me``."""
        spec = self._collection(collection, request)
        with self._reader() as conn:
            if spec.key == "users" and rid.removesuffix(".json") == "me":
                record_id = self._me_id(conn)
            else:
                record_id = _record_id(rid)
            if record_id is None:
                raise _not_found()
            query = self._list_query(spec, request.query_params, only=record_id)
            count, page = self._select(conn, query, cache=False)
        if not count:
            raise _not_found()
        return self._respond(query, count, page)

    async def create_records(self, collection: str, request: Request) -> Response:
        """``POST /api/v1/{collection}``: one object or (plural root key) up to 100."""
        spec = self._collection(collection, request, "POST")
        raw = await request.body()
        return await run_in_threadpool(self._create, spec, request, raw)

    async def update_record(self, collection: str, rid: str, request: Request) -> Response:
        """``PUT /api/v1/{collection}/{id}``."""
        spec = self._collection(collection, request, "PUT")
        raw = await request.body()
        return await run_in_threadpool(self._update, spec, rid, request, raw)

    def delete_record(self, collection: str, rid: str, request: Request) -> Response:
        """``DELETE /api/v1/time_entries/{id}``: 204."""
        spec = self._collection(collection, request, "DELETE")
        record_id = _record_id(rid)
        if record_id is None:
            raise _not_found()
        return self._delete(spec, [record_id], request.url.path, None)

    async def delete_records(self, collection: str, request: Request) -> Response:
        """``DELETE /api/v1/time_entries?ids=1,2,3`` (or ``{"ids": "1,2,3"}``): all or none."""
        spec = self._collection(collection, request, "DELETE")
        raw = await request.body()
        ids_text = request.query_params.get("ids")
        body = None
        if ids_text is None and raw.strip():
            body = _parse_body(raw)
            ids_text = str(body.get("ids") or "")
        # A non-numeric id matches no record (0), so the whole request fails with 404.
        ids = [_record_id(v) or 0 for v in _csv(ids_text or "")]
        if not ids:
            raise _syntax(MISSING_PARAMETERS)
        return await run_in_threadpool(self._delete, spec, ids, request.url.path, body)

    # --- request checks ------------------------------------------------------------------------

    def _collection(self, segment: str, request: Request, method: str = "GET") -> Collection:
        """Throttle, authenticate, then resolve the collection (404 when unknown)."""
        name = segment.removesuffix(".json")
        self._guard(request, name)
        spec = COLLECTIONS.get(name)
        if spec is None or (method != "GET" and method not in spec.writes):
            raise _not_found()
        return spec

    def _guard(self, request: Request, collection: str) -> None:
        switches = self.ctx.switches
        allowed = self._bucket.take(float(switches.get("rate_limit_per_second") or 0))
        if allowed and collection == "workspaces":
            rate = float(switches.get("workspaces_rate_limit_per_second") or 0)
            allowed = self._workspaces_bucket.take(rate)
        if not allowed:
            raise KantataError(429, error_body("system", "Too Many Requests"), self.retry_after())
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expected = self.ctx.credentials["token"]
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), expected.encode()
        ):
            raise KantataError(
                401,
                switches["unauthorized_body"],
                {"WWW-Authenticate": 'Bearer realm="Kantata OX"'},
            )

    # --- reading -------------------------------------------------------------------------------

    @contextmanager
    def _reader(self) -> Iterator[psycopg.Connection]:
        """A pooled connection in autocommit: one round trip, one snapshot per statement."""
        with self.ctx.store.connection() as conn:
            conn.autocommit = True
            try:
                yield conn
            finally:
                if not conn.closed:
                    conn.autocommit = False

    def _list_query(
        self, spec: Collection, params: QueryParams, only: int | None = None
    ) -> ListQuery:
        where, values = self._conditions(spec, params)
        if only is not None:
            where.append("id = %(show_id)s")
            values["show_id"] = only
        orders = {"id": "id", "created_at": "created_at", "updated_at": "updated_at", **spec.orders}
        default_field, _, default_direction = spec.default_order.partition(":")
        order_field, _, direction = (params.get("order") or "").partition(":")
        if order_field not in orders:
            order_field, direction = default_field, default_direction
        descending = direction.strip().lower() == "desc"
        suffix = " DESC" if descending else ""
        order_sql = (
            f"{orders[order_field]}{suffix}, id{suffix}" if order_field != "id" else f"id{suffix}"
        )
        requested = (name.strip() for name in (params.get("include") or "").split(","))
        includes = tuple(name for name in dict.fromkeys(requested) if name in spec.includes)
        max_per_page = int(self.ctx.switches.get("max_per_page") or 200)
        page_size = min(_ruby_int(params.get("per_page"), DEFAULT_PER_PAGE), max_per_page)
        page_size = DEFAULT_PER_PAGE if page_size < 1 else page_size
        if params.get("limit") and params.get("offset"):
            limit = min(max(_ruby_int(params["limit"], 1), 1), max_per_page)
            offset = max(_ruby_int(params["offset"], 0), 0)
        else:
            limit = page_size
            offset = page_size * (max(_ruby_int(params.get("page"), 1), 1) - 1)
        page_number = _ruby_int(params.get("page"), 1)
        if only is not None:
            limit, offset, page_number = 1, 0, 1
        return ListQuery(
            spec=spec,
            where=tuple(where),
            values=values,
            order_field=order_field,
            descending=descending,
            order_sql=order_sql,
            includes=includes,
            limit=limit,
            offset=offset,
            page_number=page_number,
            page_size=page_size,
        )

    @staticmethod
    def _conditions(spec: Collection, params: QueryParams) -> tuple[list[str], dict[str, Any]]:
        """SQL conditions (bound values only) for the request's filters."""
        where: list[str] = []
        values: dict[str, Any] = {"type": spec.key}
        for name, column, op in (
            ("updated_after", "updated_at", ">"),
            ("updated_before", "updated_at", "<"),
            ("created_after", "created_at", ">"),
            ("created_before", "created_at", "<"),
        ):
            if params.get(name):
                where.append(f"{column} {op} %({name})s")
                values[name] = _timestamp(name, params[name])
        if params.get("only"):
            where.append("id = ANY(%(only)s::bigint[])")
            values["only"] = [i for i in map(_record_id, _csv(params["only"])) if i is not None]
        for name, fld in spec.equals.items():
            if params.get(name):
                where.append(f"data->>'{fld}' = ANY(%(eq_{name})s::text[])")
                values[f"eq_{name}"] = _csv(params[name])
        for name, fld in spec.contains.items():
            if params.get(name):
                where.append(f"data->'{fld}' ?| %(in_{name})s::text[]")
                values[f"in_{name}"] = _csv(params[name])
        for name, fld in spec.between.items():
            if name in params:
                low, high = _date_range(name, params[name])
                bounds = ((">=", "low", low), ("<=", "high", high))
                for op, side, bound in bounds:
                    if bound:
                        where.append(f"data->>'{fld}' {op} %({name}_{side})s")
                        values[f"{name}_{side}"] = bound
        return where + KantataVendor._visibility(spec, params), values

    @staticmethod
    def _visibility(spec: Collection, params: QueryParams) -> list[str]:
        """The ``approved`` quirk and what archiving hides."""
        where: list[str] = []
        if spec.approvable and "approved" in params:
            # Kantata: "When included in your request, this filter is always processed as
            # true; the actual value you provide is ignored."
            where.append("(data->>'approved')::boolean")
        if spec.archivable:
            archived = (params.get("archived") or "").strip().lower()
            shown = _truthy(params.get("include_archived")) or _truthy(params.get("show_archived"))
            if archived == "only":
                where.append(ARCHIVED)
            elif archived != "include" and not shown:
                where.append(f"NOT {ARCHIVED}")
        if spec.in_workspace and not (
            _truthy(params.get("from_archived_workspaces"))
            or _truthy(params.get("show_from_archived_workspaces"))
        ):
            where.append(f"NOT ({IN_ARCHIVED_WORKSPACE})")
        return where

    def _select(self, conn: psycopg.Connection, query: ListQuery, cache: bool) -> tuple[int, Page]:
        """The count and the requested page (``conn`` in autocommit).

        With cached ids the page is one statement, which also returns the generation it read;
        when that is not the cached one, the ids and the page are read again in one
        REPEATABLE READ snapshot.
        """
        cached = self._ids_cache.get(query.signature) if cache else None
        if cached is not None:
            generation, ids = cached
            page = self._page(conn, query.spec, query.window(ids), query.includes)
            if page.generation == generation:
                return len(ids), page
        with _repeatable_read(conn):
            generation, ids = self._matching_ids(conn, query)
            page = self._page(conn, query.spec, query.window(ids), query.includes)
        if cache:
            self._ids_cache.put(query.signature, generation, ids)
        return len(ids), page

    def _matching_ids(self, conn: psycopg.Connection, query: ListQuery) -> tuple[int, array]:
        """All matching ids in order, packed by PostgreSQL as big-endian int8s."""
        sql = (
            "SELECT (SELECT generation FROM psa_generation), "
            f"coalesce(string_agg(int8send(id), ''::bytea ORDER BY {query.order_sql}), "
            "''::bytea) FROM record WHERE " + " AND ".join(("type = %(type)s", *query.where))
        )
        row = conn.cursor(row_factory=tuple_row).execute(sql, query.values, binary=True).fetchone()
        generation, packed = row  # type: ignore[misc]
        ids = array("q")
        ids.frombytes(packed)
        if sys.byteorder == "little":
            ids.byteswap()
        return generation, ids

    def _page(
        self, conn: psycopg.Connection, spec: Collection, ids: list[int], includes: tuple[str, ...]
    ) -> Page:
        """One statement: the generation, the page's documents and their includes, as text."""
        render = (
            "psa_utc({})::text" if self.ctx.switches.get("timestamp_style") == "z" else "{}::text"
        )
        parts = [
            "WITH page AS MATERIALIZED (SELECT p.ord, r.id, r.data "
            "FROM unnest(%(ids)s::bigint[]) WITH ORDINALITY AS p(id, ord) "
            "JOIN record r ON r.type = %(type)s AND r.id = p.id) "
            "SELECT -1 AS sec, generation AS ord, NULL::bigint AS id, NULL::text AS body "
            "FROM psa_generation",
            f"SELECT 0, ord, id, {render.format('data')} FROM page",
        ]
        for sec, name in enumerate(includes, 1):
            inc = spec.includes[name]
            refs = (
                f"SELECT e FROM page, jsonb_array_elements_text(CASE jsonb_typeof("
                f"data->'{inc.field}') WHEN 'array' THEN data->'{inc.field}' "
                "ELSE '[]'::jsonb END) AS e"
                if inc.many
                else f"SELECT data->>'{inc.field}' FROM page"
            )
            parts.append(
                f"SELECT {sec}, 0, i.id, {render.format('i.data')} FROM record i "
                f"WHERE i.type = '{inc.key}' AND i.id IN (SELECT CASE WHEN r ~ '^[0-9]{{1,18}}$' "
                f"THEN r::bigint END FROM ({refs}) AS x(r))"
            )
        sql = " UNION ALL ".join(parts) + " ORDER BY sec, ord, id"
        rows = (
            conn.cursor(row_factory=tuple_row)
            .execute(sql, {"ids": ids, "type": spec.key})
            .fetchall()
        )
        page = Page(generation=rows[0][1], main=[], included={})
        for name in includes:
            page.included.setdefault(spec.includes[name].key, {})
        for sec, _, rid, body in rows[1:]:
            if sec == 0:
                page.main.append((rid, body))
            else:
                page.included[spec.includes[includes[sec - 1]].key].setdefault(rid, body)
        return page

    def _respond(self, query: ListQuery, count: int, page: Page, status: int = 200) -> Response:
        """The envelope, built as text around the stored documents."""
        key = query.spec.key
        meta = {
            "count": count,
            "page_count": math.ceil(count / query.page_size) if count else 0,
            "page_number": query.page_number if count else 0,
            "page_size": query.page_size,
        }
        results = ",".join(f'{{"key":"{key}","id":"{rid}"}}' for rid, _ in page.main)
        objects = ",".join(f'"{rid}":{body}' for rid, body in page.main)
        parts = [
            f'{{"count":{count},"meta":{json.dumps(meta, separators=(",", ":"))},',
            f'"results":[{results}],"{key}":{{{objects}}}',
        ]
        for inc_key, docs in page.included.items():
            parts.append(f',"{inc_key}":{{' + ",".join(f'"{i}":{b}' for i, b in docs.items()) + "}")
        parts.append("}")
        return Response(content="".join(parts), status_code=status, media_type="application/json")

    def _present(
        self,
        conn: psycopg.Connection,
        spec: Collection,
        ids: list[int],
        params: QueryParams,
        status: int,
    ) -> Response:
        """The envelope of records just written (same transaction), honouring ``include=``."""
        base = self._list_query(spec, QueryParams({"include": params.get("include") or ""}))
        size = max(len(ids), DEFAULT_PER_PAGE)
        query = replace(base, limit=len(ids), offset=0, page_number=1, page_size=size)
        page = self._page(conn, spec, ids, query.includes)
        return self._respond(query, len(page.main), page, status)

    def _me_id(self, conn: psycopg.Connection) -> int | None:
        configured = self.ctx.switches.get("me_user_id")
        if configured is not None:
            return int(configured)
        row = conn.execute("SELECT min(id) AS id FROM record WHERE type = 'users'").fetchone()
        return row["id"] if row else None  # type: ignore[index,call-overload]

    # --- writing -------------------------------------------------------------------------------

    def _now(self) -> tuple[datetime, str]:
        """Now (whole seconds) and its string in the ``timestamp_style``."""
        now = datetime.now(UTC).replace(microsecond=0)
        if self.ctx.switches.get("timestamp_style") == "z":
            return now, now.strftime("%Y-%m-%dT%H:%M:%SZ")
        zone = ZoneInfo(str(self.ctx.switches.get("time_zone") or "UTC"))
        return now, now.astimezone(zone).isoformat()

    def _write(
        self,
        method: str,
        path: str,
        spec: Collection,
        *,
        body: Any,
        action: Callable[[psycopg.Connection], Response],
        record_id: int | None = None,
    ) -> Response:
        """Run a write in one transaction; log a rejected one with its status."""
        try:
            with self.ctx.store.connection() as conn:
                # Take the generation row first: every writer then locks in the same order.
                conn.execute("UPDATE psa_generation SET generation = generation + 1")
                return action(conn)
        except KantataError as exc:
            with self.ctx.store.connection() as conn:
                self.ctx.store.log_write(
                    conn,
                    method=method,
                    path=path,
                    status=exc.status,
                    record_type=spec.key,
                    record_id=record_id,
                    body=body,
                )
            raise

    def _create(self, spec: Collection, request: Request, raw: bytes) -> Response:
        payload = _parse_body(raw)
        if isinstance(payload.get(spec.singular), dict):
            items: list[Any] = [payload[spec.singular]]
        elif isinstance(payload.get(spec.key), list) and payload[spec.key]:
            items = payload[spec.key]
        else:
            raise _syntax(MISSING_PARAMETERS)
        if len(items) > BULK_LIMIT:
            raise _syntax(f"Bulk create accepts at most {BULK_LIMIT} objects.")
        status = int(self.ctx.switches.get("create_status") or 200)
        path = request.url.path

        def action(conn: psycopg.Connection) -> Response:
            checked = [self._validate(conn, spec, item, i, None) for i, item in enumerate(items)]
            errors = [e for _, errs in checked for e in errs]
            if errors:
                raise KantataError(self._validation_status(), {"errors": errors})
            now, stamp = self._now()
            ids = []
            for item, (clean, _) in zip(items, checked, strict=True):
                rid = self.ctx.store.next_id(conn)
                data = self._build(conn, spec, rid, clean, stamp)
                self._save(conn, spec, rid, data, clean=clean, now=now, created=True)
                self.ctx.store.log_write(
                    conn,
                    method="POST",
                    path=path,
                    status=status,
                    record_type=spec.key,
                    record_id=rid,
                    body=item,
                )
                ids.append(rid)
            return self._present(conn, spec, ids, request.query_params, status)

        return self._write("POST", path, spec, body=payload, action=action)

    def _update(self, spec: Collection, rid: str, request: Request, raw: bytes) -> Response:
        record_id = _record_id(rid)
        if record_id is None:
            raise _not_found()
        payload = _parse_body(raw)
        item = payload.get(spec.singular)
        if not isinstance(item, dict):
            raise _syntax(MISSING_PARAMETERS)
        path = request.url.path

        def action(conn: psycopg.Connection) -> Response:
            existing = self.ctx.store.get(conn, spec.key, record_id)
            if existing is None:
                raise _not_found()
            clean, errors = self._validate(conn, spec, item, 0, existing)
            if errors:
                raise KantataError(self._validation_status(), {"errors": errors})
            now, stamp = self._now()
            data = {**existing, **clean, "updated_at": stamp}
            self._save(conn, spec, record_id, data, clean=clean, now=now, created=False)
            self.ctx.store.log_write(
                conn,
                method="PUT",
                path=path,
                status=200,
                record_type=spec.key,
                record_id=record_id,
                body=item,
            )
            return self._present(conn, spec, [record_id], request.query_params, 200)

        return self._write("PUT", path, spec, body=payload, action=action, record_id=record_id)

    def _delete(self, spec: Collection, ids: list[int], path: str, body: Any) -> Response:
        def action(conn: psycopg.Connection) -> Response:
            deleted = conn.execute(
                "DELETE FROM record WHERE type = %s AND id = ANY(%s::bigint[]) RETURNING id",
                (spec.key, ids),
            ).fetchall()
            if len(deleted) != len(set(ids)):
                raise _not_found()  # rolls the whole request back
            for rid in dict.fromkeys(ids):
                self.ctx.store.log_write(
                    conn,
                    method="DELETE",
                    path=path,
                    status=204,
                    record_type=spec.key,
                    record_id=rid,
                    body=body,
                )
            return Response(status_code=204)

        single = ids[0] if len(ids) == 1 else None
        return self._write("DELETE", path, spec, body=body, action=action, record_id=single)

    def _validation_status(self) -> int:
        return int(self.ctx.switches.get("validation_status") or 422)

    def _exists(self, conn: psycopg.Connection, collection: str, rid: str) -> dict[str, Any] | None:
        return self.ctx.store.get(conn, collection, int(rid))

    def _validate(
        self,
        conn: psycopg.Connection,
        spec: Collection,
        item: Any,
        index: int,
        existing: dict[str, Any] | None,
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The permitted attributes, cast, and brainstem validation errors."""
        if not isinstance(item, dict):
            message = f"{_humanize(spec.singular)} must be an object"
            return {}, [_validation("base", message, index)]
        clean: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for name, attr in spec.attrs.items():
            if name not in item:
                continue
            value, problem = _coerce(attr, item[name])
            if (
                problem is None
                and attr.ref
                and value is not None
                and not self._exists(conn, attr.ref, value)
            ):
                problem = "must exist"
            if problem:
                label = _humanize(name.removesuffix("_id")) if problem == "must exist" else None
                errors.append(_validation(name, f"{label or _humanize(name)} {problem}", index))
            else:
                clean[name] = value
        merged = {**(existing or {}), **clean}
        for name in spec.required:
            if merged.get(name) in (None, "") and not any(e["field"] == name for e in errors):
                errors.append(_validation(name, f"{_humanize(name)} can't be blank", index))
        errors += self._check_rules(conn, spec, merged, existing, index)
        if spec.referenced and item.get("external_reference") is not None:
            nested, problem = self._nested_reference(item["external_reference"])
            if problem:
                errors.append(_validation("external_reference", problem, index))
            else:
                clean["external_reference"] = nested
        return clean, errors

    def _check_rules(
        self,
        conn: psycopg.Connection,
        spec: Collection,
        merged: dict[str, Any],
        existing: dict[str, Any] | None,
        index: int,
    ) -> list[dict[str, Any]]:
        """Cross-field rules: story in workspace, unique emails, external reference subjects."""
        errors: list[dict[str, Any]] = []
        if spec.key == "time_entries" and merged.get("story_id") and merged.get("workspace_id"):
            story = self._exists(conn, "stories", merged["story_id"])
            if story and story.get("workspace_id") != merged["workspace_id"]:
                message = "Story must belong to the time entry's workspace"
                errors.append(_validation("story_id", message, index))
        if spec.key == "users" and merged.get("email_address"):
            row = conn.execute(
                "SELECT 1 FROM record WHERE type = 'users' AND id <> %s "
                "AND lower(data->>'email_address') = lower(%s) LIMIT 1",
                (int((existing or {}).get("id") or 0), merged["email_address"]),
            ).fetchone()
            if row:
                message = "Email address has already been taken"
                errors.append(_validation("email_address", message, index))
        if spec.key == "external_references" and merged.get("subject_type"):
            collection = SUBJECT_TYPES.get(merged["subject_type"])
            if collection is None:
                message = "Subject type is not included in the list"
                errors.append(_validation("subject_type", message, index))
            elif merged.get("subject_id") and not self._exists(
                conn, collection, merged["subject_id"]
            ):
                errors.append(_validation("subject_id", "Subject must exist", index))
        return errors

    @staticmethod
    def _nested_reference(value: Any) -> tuple[dict[str, Any], str | None]:
        """The nested ``external_reference`` attribute of a time entry, workspace or user."""
        if not isinstance(value, dict):
            return {}, "External reference is invalid"
        clean: dict[str, Any] = {}
        for name, attr in EXTERNAL_REFERENCE_ATTRS.items():
            if name in value and not name.startswith("subject_"):
                cast, problem = _coerce(attr, value[name])
                if problem:
                    return {}, f"External reference {name.replace('_', ' ')} {problem}"
                clean[name] = cast
        missing = [n for n in NESTED_REFERENCE_REQUIRED if clean.get(n) in (None, "")]
        if missing:
            return {}, f"External reference {missing[0].replace('_', ' ')} can't be blank"
        return clean, None

    def _save(
        self,
        conn: psycopg.Connection,
        spec: Collection,
        rid: int,
        data: dict[str, Any],
        *,
        clean: dict[str, Any],
        now: datetime,
        created: bool,
    ) -> None:
        """Store a written record and what it brings along (nested reference, subject link)."""
        data.pop("external_reference", None)
        store = self.ctx.store
        nested = clean.get("external_reference")
        if nested is not None:
            ref_id = store.next_id(conn)
            subject_type = next(t for t, c in SUBJECT_TYPES.items() if c == spec.key)
            reference = self._new_external_reference(
                ref_id,
                {**nested, "subject_type": subject_type, "subject_id": str(rid)},
                data["updated_at"],
            )
            store.put(conn, "external_references", ref_id, reference, at=now)
            data["external_reference_ids"] = [
                *(data.get("external_reference_ids") or []),
                str(ref_id),
            ]
        store.put(conn, spec.key, rid, data, at=now)
        if spec.key == "external_references" and created:
            self._link_subject(conn, data)

    def _link_subject(self, conn: psycopg.Connection, reference: dict[str, Any]) -> None:
        """Add a new external reference to its subject's ``external_reference_ids``.

        The subject's ``updated_at`` is kept: attaching a reference is not an edit of it.
        """
        collection = SUBJECT_TYPES[reference["subject_type"]]
        subject = self.ctx.store.get(conn, collection, int(reference["subject_id"]))
        if subject is None or not COLLECTIONS[collection].referenced:
            return
        subject["external_reference_ids"] = [
            *(subject.get("external_reference_ids") or []),
            reference["id"],
        ]
        self.ctx.store.put(
            conn,
            collection,
            int(subject["id"]),
            subject,
            at=_as_datetime(subject.get("updated_at")),
        )

    def _build(
        self,
        conn: psycopg.Connection,
        spec: Collection,
        rid: int,
        clean: dict[str, Any],
        stamp: str,
    ) -> dict[str, Any]:
        """A new record's document with the defaults Kantata fills in."""
        fields = {k: v for k, v in clean.items() if k != "external_reference"}
        if spec.key == "time_entries":
            return self._new_time_entry(conn, rid, fields, stamp)
        if spec.key == "external_references":
            return self._new_external_reference(rid, fields, stamp)
        account_id = self._account_id(conn)
        if spec.key == "workspaces":
            defaults = {
                "title": None,
                "account_id": account_id,
                "archived": False,
                "start_date": None,
                "due_date": None,
                "price_in_cents": None,
                "currency": "USD",
                "status": {"key": 100, "message": "Not Started"},
                "require_time_approvals": True,
                "require_expense_approvals": True,
                "rate_card_id": None,
            }
        else:
            defaults = {
                "full_name": None,
                "email_address": None,
                "headline": None,
                "account_id": account_id,
                "disabled": False,
            }
        return {
            "id": str(rid),
            **defaults,
            **fields,
            "external_reference_ids": [],
            "created_at": stamp,
            "updated_at": stamp,
        }

    def _account_id(self, conn: psycopg.Connection) -> str:
        me = self._me_id(conn)
        user = self.ctx.store.get(conn, "users", me) if me is not None else None
        return str((user or {}).get("account_id") or "1")

    def _new_time_entry(
        self, conn: psycopg.Connection, rid: int, fields: dict[str, Any], stamp: str
    ) -> dict[str, Any]:
        store = self.ctx.store
        workspace = store.get(conn, "workspaces", int(fields["workspace_id"])) or {}
        story = (
            store.get(conn, "stories", int(fields["story_id"])) if fields.get("story_id") else None
        )
        currency = str(workspace.get("currency") or "USD")
        me = self._me_id(conn)
        rate = fields.get("rate_in_cents")
        if rate is None:
            rate = self._rate(conn, workspace, fields.get("role_id"), fields["date_performed"])
        billable = fields.get("billable")
        return {
            "id": str(rid),
            "created_at": stamp,
            "updated_at": stamp,
            "date_performed": fields["date_performed"],
            "time_in_minutes": fields["time_in_minutes"],
            "billable": (story or {}).get("billable", True) if billable is None else billable,
            "notes": fields.get("notes"),
            "rate_in_cents": rate,
            "cost_rate_in_cents": fields.get("cost_rate_in_cents"),
            "currency": currency,
            "currency_symbol": CURRENCY_SYMBOLS.get(currency, currency),
            "currency_base_unit": 1 if currency in ZERO_DECIMAL_CURRENCIES else 100,
            "workspace_id": fields["workspace_id"],
            "story_id": fields.get("story_id"),
            "user_id": fields.get("user_id") or (str(me) if me is not None else None),
            "role_id": fields.get("role_id"),
            "approved": not workspace.get("require_time_approvals", True),
            "is_invoiced": False,
            "invoice_id": None,
            "active_submission_id": None,
            "recent_submission_id": None,
            "taxable": False,
            "user_can_edit": True,
            "location": fields.get("location"),
            "external_reference_ids": [],
        }

    @staticmethod
    def _rate(
        conn: psycopg.Connection, workspace: dict[str, Any], role_id: str | None, day: str
    ) -> int:
        """The role's rate on the workspace's rate card, in the version in effect on ``day``."""
        if not role_id or not workspace.get("rate_card_id"):
            return 0
        row = conn.execute(
            "SELECT (rr.data->>'rate_in_cents')::bigint AS rate FROM record v "
            "JOIN record rr ON rr.type = 'rate_card_roles' "
            "AND rr.data->>'rate_card_version_id' = v.id::text AND rr.data->>'role_id' = %s "
            "WHERE v.type = 'rate_card_versions' AND v.data->>'rate_card_id' = %s "
            "AND v.data->>'effective_date' <= %s "
            "ORDER BY v.data->>'effective_date' DESC LIMIT 1",
            (role_id, workspace["rate_card_id"], day),
        ).fetchone()
        return int(row["rate"]) if row and row["rate"] is not None else 0  # type: ignore[index,call-overload]

    @staticmethod
    def _new_external_reference(rid: int, fields: dict[str, Any], stamp: str) -> dict[str, Any]:
        return {
            "id": str(rid),
            "subject_type": None,
            "subject_id": None,
            "service_name": None,
            "service_model": None,
            "service_model_ref": None,
            "status": None,
            **fields,
            "created_at": stamp,
            "updated_at": stamp,
        }

    # --- faults --------------------------------------------------------------------------------

    def insert_ahead(self, path: str, query: str, count: int) -> None:
        """The ``insert_while_paging`` fault (documented on :class:`KantataResponses`)."""
        parts = path.removeprefix("/api/v1/").split("/")
        spec = COLLECTIONS.get(parts[0].removesuffix(".json"))
        if len(parts) != 1 or spec is None or spec.key not in ("time_entries", "expenses"):
            return
        params = QueryParams(query)
        try:
            listed = self._list_query(spec, params)
        except KantataError:
            return
        with self.ctx.store.connection() as conn:
            conn.execute("UPDATE psa_generation SET generation = generation + 1")
            _, ids = self._matching_ids(conn, listed)
            served = listed.window(ids)
            if not served:
                return
            template_id = served[0]
            new_ids = (
                [self.ctx.store.next_id(conn) for _ in range(count)]
                if listed.descending
                else self._free_ids_below(conn, spec.key, template_id, count)
            )
            row = conn.execute(
                "SELECT data, created_at, updated_at FROM record WHERE type = %s AND id = %s",
                (spec.key, template_id),
            ).fetchone()
            keep_stamps = listed.order_field in ("created_at", "updated_at") or any(
                params.get(p) for p in ("created_before", "updated_before")
            )
            now, stamp = self._now()
            for rid in new_ids:
                data = {**row["data"], "id": str(rid)}  # type: ignore[index,call-overload]
                data.update({"invoice_id": None, "is_invoiced": False})
                data.update({"external_reference_ids": []} if spec.key == "time_entries" else {})
                if not keep_stamps:
                    data.update({"created_at": stamp, "updated_at": stamp})
                conn.execute(
                    "INSERT INTO record (type, id, data, created_at, updated_at) "
                    "VALUES (%s, %s, %s::jsonb, %s, %s)",
                    (
                        spec.key,
                        rid,
                        json.dumps(data),
                        row["created_at"] if keep_stamps else now,  # type: ignore[index,call-overload]
                        row["updated_at"] if keep_stamps else now,  # type: ignore[index,call-overload]
                    ),
                )

    @staticmethod
    def _free_ids_below(conn: psycopg.Connection, rtype: str, top: int, count: int) -> list[int]:
        """Up to ``count`` unused ids below ``top``, largest first.

        The nearest free ids within 1000 below ``top``, then ids below the lowest id of the
        type: two index probes, also when the generator's ids are dense.
        """
        rows = conn.execute(
            "SELECT c.id FROM generate_series(%(top)s::bigint - 1, "
            "greatest(%(top)s::bigint - 1000, 1), -1) AS c(id) "
            "WHERE NOT EXISTS (SELECT 1 FROM record r WHERE r.type = %(type)s AND r.id = c.id) "
            "LIMIT %(count)s",
            {"top": top, "type": rtype, "count": count},
        ).fetchall()
        free = [row["id"] for row in rows]  # type: ignore[call-overload]
        lowest = conn.execute(
            "SELECT min(id) AS id FROM record WHERE type = %s", (rtype,)
        ).fetchone()["id"]  # type: ignore[index]
        below = [i for i in range(min(lowest, top) - 1, 0, -1)[:count] if i not in free]
        return (free + below)[:count]


@contextmanager
def _repeatable_read(conn: psycopg.Connection) -> Iterator[None]:
    """One read-only REPEATABLE READ transaction on an autocommit connection."""
    conn.autocommit = False
    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    try:
        yield
    finally:
        if not conn.closed:
            conn.rollback()
            conn.isolation_level = None
            conn.autocommit = True


async def _error_handler(request: Request, exc: KantataError) -> Response:
    return _json_response(exc.body, exc.status, exc.headers)


async def _server_error_handler(request: Request, exc: Exception) -> Response:
    return _json_response(error_body("system", "Internal Server Error"), 500)


async def _http_error_handler(request: Request, exc: StarletteHTTPException) -> Response:
    message = "Not found" if exc.status_code == 404 else HTTPStatus(exc.status_code).phrase
    return _json_response(error_body("system", message), exc.status_code)
