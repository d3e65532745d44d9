"""The CRM sandbox: Salesforce REST API (``/services/oauth2/token``, ``/services/data/vNN.N/...``).

Wire format per ``shared/reference/api-wire-formats.md`` §3. Routes (any ``vNN.N`` version):

==================================================  ============================================
``POST /services/oauth2/token``                     client-credentials grant; client id/secret as
                                                    HTTP Basic or form fields → bearer token
``GET  /services/data/vNN.N/query?q=<SOQL>``        SOQL (subset: ``sandbox/soql.py``), batches
``GET  /services/data/vNN.N/queryAll?q=<SOQL>``     the same, deleted rows included
``GET  /services/data/vNN.N/query/<locator>-<n>``   the next batch (``nextRecordsUrl``)
``GET  /services/data/vNN.N/sobjects/<type>/<Id>``  one record (``?fields=A,B`` to narrow)
``PATCH /services/data/vNN.N/sobjects/<type>/<Id>`` update fields → 204
``GET  /services/data/vNN.N/limits``                ``DailyApiRequests`` max/remaining
==================================================  ============================================

Every API call needs ``Authorization: Bearer <token>`` (``OAuth <token>`` is accepted too, as
Salesforce does); a missing, unknown or expired token gets the 401 ``INVALID_SESSION_ID`` array
that simple-salesforce refreshes on. Every authenticated answer carries ``Sforce-Limit-Info:
api-usage=N/limit``; calls over the limit get 403 ``REQUEST_LIMIT_EXCEEDED`` (not 429). Token
requests, 401s and refused calls are not counted.

Objects are ``Account`` and ``Opportunity`` as stored (``sandbox/README.md``); ``IsWon`` and
``IsClosed`` are derived from ``StageName`` (switches ``won_stages``/``lost_stages``) in answers
and in SOQL filters and sort keys. Parent relationships ``Opportunity.Account`` and
``Account.Parent`` may be selected, filtered and sorted on (``Account.Name``).

Query locators are snapshots, as in Salesforce: the first call stores the ordered ids of every
match (``kv``), later batches read that list, so rows inserted or changed meanwhile never shift
or repeat a batch (field values are read when the batch is served). Locators expire after
``query_locator_ttl_s`` seconds without use (``INVALID_QUERY_LOCATOR``).

The ``insert_while_paging`` fault clones the first record the paged query matches (new ``Id``,
``Name`` suffixed ``(inserted while paging N)``, ``CreatedDate``/``LastModifiedDate``/
``SystemModstamp`` now, not deleted), so the clones match the same filters, including
``LastModifiedDate > <watermark>``. Because the locator is a snapshot, later batches of the running
query do not change; the clones appear in the next query (a later incremental pull).

Switches (``PATCH /_sandbox/switches/crm``), defaults in :attr:`SalesforceVendor.default_switches`:

``token_ttl_s``          seconds a token lives, checked on use (0 expires every token now).
``daily_api_limit``      the ``api-usage`` allocation; calls beyond it get 403.
``datetime_style``       ``salesforce`` (``2024-05-10T17:22:03.000+0000``, [U] but what clients
                         parse), ``iso_z`` (``…000Z``) or ``iso_offset`` (``…000+00:00``).
``query_locator_ttl_s``  idle seconds before a query locator expires.
``max_batch_size``       cap on a batch below the requested size ("not guaranteed" [V]).
``won_stages``           stages with ``IsWon`` and ``IsClosed`` true.
``lost_stages``          stages with ``IsClosed`` true and ``IsWon`` false.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs, parse_qsl

import psycopg
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from sandbox import soql
from sandbox.faults import FaultRule, VendorResponses
from sandbox.soql import FieldDef, Relationship, SObjectDef, SoqlError
from sandbox.vendor import Vendor

_ro = {"updatable": False}
_COMMON_TAIL = (
    FieldDef("OwnerId", "reference"),
    FieldDef("IsDeleted", "boolean", **_ro),
    FieldDef("CreatedDate", "datetime", **_ro),
    FieldDef("LastModifiedDate", "datetime", **_ro),
    FieldDef("SystemModstamp", "datetime", **_ro),
)

SCHEMA: dict[str, SObjectDef] = {
    "Account": SObjectDef(
        "Account",
        "001",
        (
            FieldDef("Id", "id", **_ro),
            FieldDef("Name", "string"),
            FieldDef("Type", "string"),
            FieldDef("Industry", "string"),
            FieldDef("BillingCountry", "string"),
            FieldDef("BillingCity", "string"),
            FieldDef("CurrencyIsoCode", "string"),
            FieldDef("Legal_Entity__c", "string"),
            FieldDef("Payment_Terms__c", "string"),
            FieldDef("Tax_Id__c", "string"),
            FieldDef("ParentId", "reference"),
            *_COMMON_TAIL,
        ),
        (Relationship("Parent", "ParentId", "Account"),),
    ),
    "Opportunity": SObjectDef(
        "Opportunity",
        "006",
        (
            FieldDef("Id", "id", **_ro),
            FieldDef("Name", "string"),
            FieldDef("AccountId", "reference"),
            FieldDef("StageName", "string"),
            FieldDef("IsWon", "boolean", derived=True, updatable=False),
            FieldDef("IsClosed", "boolean", derived=True, updatable=False),
            FieldDef("CloseDate", "date"),
            FieldDef("Amount", "number"),
            FieldDef("CurrencyIsoCode", "string"),
            FieldDef("Probability", "number"),
            FieldDef("Type", "string"),
            FieldDef("Billing_Model__c", "string"),
            FieldDef("Legal_Entity__c", "string"),
            FieldDef("Rate_Card__c", "string"),
            FieldDef("Practice__c", "string"),
            FieldDef("Start_Date__c", "date"),
            FieldDef("End_Date__c", "date"),
            FieldDef("Payment_Terms__c", "string"),
            *_COMMON_TAIL,
        ),
        (Relationship("Account", "AccountId", "Account"),),
    ),
}

# The sandbox org and its integration user (made-up ids in Salesforce's 18-character form).
ORG_ID = soql.to_id18("00D5g000004SbxA")
USER_ID = soql.to_id18("0055g00000ApIsB")
_VERSION = re.compile(r"^v\d{2,3}\.\d$")
_LOCATOR = re.compile(r"^(01g[A-Za-z0-9]{15})-(\d+)$")
_BATCH_SIZE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DATETIME_SUFFIX = {"salesforce": "+0000", "iso_z": "Z", "iso_offset": "+00:00"}
_USAGE_KEY = "api_usage"


# --- wire helpers ----------------------------------------------------------------------------


def sf_error(
    status: int, error_code: str, message: str, fields: list[str] | None = None
) -> JSONResponse:
    """A Salesforce REST error: a JSON array of ``{message, errorCode[, fields]}``."""
    body: dict[str, Any] = {"message": message, "errorCode": error_code}
    if fields is not None:
        body["fields"] = fields
    return JSONResponse([body], status_code=status)


def invalid_session() -> JSONResponse:
    """The 401 simple-salesforce refreshes its session on."""
    return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")


def not_found() -> JSONResponse:
    """Salesforce's 404 for an unknown resource or record."""
    return sf_error(404, "NOT_FOUND", "The requested resource does not exist")


def limit_exceeded(what: str = "TotalRequests") -> JSONResponse:
    """The 403 Salesforce answers when an API limit is exceeded."""
    return sf_error(403, "REQUEST_LIMIT_EXCEEDED", f"{what} Limit exceeded.")


def oauth_error(error: str, description: str) -> JSONResponse:
    """An OAuth endpoint error (a JSON object, unlike the REST API's arrays)."""
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


class SalesforceError(Exception):
    """An API error answered as a Salesforce error array."""

    def __init__(
        self, status: int, error_code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.error_code, self.message, self.fields = (
            status,
            error_code,
            message,
            fields,
        )

    def response(self) -> JSONResponse:
        """The error as an HTTP response."""
        return sf_error(self.status, self.error_code, self.message, self.fields)


def format_datetime(value: Any, style: str) -> Any:
    """A stored dateTime in UTC, formatted the Salesforce way (or as ``style`` says).

    Values that are not ISO 8601 are answered as stored.
    """
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    suffix = _DATETIME_SUFFIX.get(style, _DATETIME_SUFFIX["salesforce"])
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}{suffix}"


def now_stamp() -> tuple[datetime, str]:
    """Now, as a datetime and in the stored ``2024-05-10T17:22:03.000+0000`` form."""
    moment = datetime.now(UTC)
    return moment, format_datetime(moment.isoformat(), "salesforce")


def record_id(key_prefix: str, number: int) -> str:
    """An 18-character Salesforce id for a record created in the sandbox."""
    return soql.to_id18(f"{key_prefix}Sb{number:010d}")


def _sobject(name: str) -> SObjectDef | None:
    return next((s for n, s in SCHEMA.items() if n.lower() == name.lower()), None)


def _find(conn: psycopg.Connection, sobject: SObjectDef, sf_id: str) -> dict[str, Any] | None:
    """``{"id", "data"}`` of the record with this Salesforce id (15 or 18 characters)."""
    if not soql.is_id(sf_id):
        return None
    return conn.execute(
        "SELECT id, data FROM record WHERE type = %s AND data->>'Id' = %s",
        (sobject.name, soql.to_id18(sf_id)),
    ).fetchone()  # type: ignore[return-value]


# --- the service -----------------------------------------------------------------------------

# A SELECT list as a tree: ("field", FieldDef) or ("rel", Relationship, subtree), in query order.
SelectTree = list[tuple[Any, ...]]


class SalesforceVendor(Vendor):
    """Salesforce REST API: OAuth client credentials, SOQL with query locators, sObjects."""

    name = "crm"
    title = "Salesforce REST API (sandbox)"
    ddl = (
        "CREATE INDEX IF NOT EXISTS crm_sfid_idx ON record (type, (data->>'Id'));\n"
        "CREATE INDEX IF NOT EXISTS crm_opportunity_account_idx ON record ((data->>'AccountId')) "
        "WHERE type = 'Opportunity';\n"
    )
    default_switches: ClassVar[dict[str, Any]] = {
        "token_ttl_s": 7200,
        "daily_api_limit": 100_000,
        "datetime_style": "salesforce",
        "query_locator_ttl_s": 900,
        "max_batch_size": 2000,
        "won_stages": ["Closed Won"],
        "lost_stages": ["Closed Lost"],
    }

    def responses(self) -> VendorResponses:
        """Salesforce error arrays for injected faults."""
        return SalesforceResponses(self)

    # --- routes ------------------------------------------------------------------------

    def routes(self, app: FastAPI) -> None:
        """Add the OAuth and REST API routes."""
        app.add_exception_handler(StarletteHTTPException, _routing_error)  # type: ignore[arg-type]

        @app.post("/services/oauth2/token")
        async def token(request: Request) -> Response:
            form = dict(parse_qsl(request.url.query))
            form.update(parse_qsl((await request.body()).decode("utf-8", "replace")))
            return await run_in_threadpool(
                self.issue_token, request.headers.get("authorization"), form
            )

        def query(request: Request, version: str) -> Response:
            endpoint = request.url.path.rsplit("/", 1)[1]
            return self.api(
                request,
                version,
                lambda conn: self.start_query(
                    conn,
                    version,
                    endpoint,
                    request.query_params.get("q"),
                    request.headers.get("sforce-query-options"),
                ),
            )

        def query_more(request: Request, version: str, locator: str) -> Response:
            endpoint = request.url.path.rsplit("/", 2)[1]
            return self.api(
                request,
                version,
                lambda conn: self.continue_query(
                    conn, version, endpoint, locator, request.headers.get("sforce-query-options")
                ),
            )

        for endpoint in ("query", "queryAll"):
            app.get(f"/services/data/{{version}}/{endpoint}")(query)
            app.get(f"/services/data/{{version}}/{endpoint}/{{locator}}")(query_more)

        @app.get("/services/data/{version}/sobjects/{sobject}/{sf_id}")
        def get_record(request: Request, version: str, sobject: str, sf_id: str) -> Response:
            fields = request.query_params.get("fields")
            return self.api(
                request,
                version,
                lambda conn: self.read_record(conn, version, sobject, sf_id, fields),
            )

        @app.patch("/services/data/{version}/sobjects/{sobject}/{sf_id}")
        async def patch_record(
            request: Request, version: str, sobject: str, sf_id: str
        ) -> Response:
            body = await request.body()
            return await run_in_threadpool(
                self.api,
                request,
                version,
                lambda conn: self.update_record(conn, request.url.path, sobject, sf_id, body),
            )

        @app.get("/services/data/{version}/limits")
        def limits(request: Request, version: str) -> Response:
            return self.api(request, version, self.limits)

    # --- auth and limits -----------------------------------------------------------------

    def issue_token(self, authorization: str | None, form: dict[str, str]) -> Response:
        """The client-credentials grant (credentials as HTTP Basic or form fields)."""
        if form.get("grant_type") != "client_credentials":
            return oauth_error("unsupported_grant_type", "grant type not supported")
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization[:6].lower() == "basic ":
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
            except ValueError:
                return oauth_error("invalid_client", "invalid client credentials")
            client_id, _, secret = decoded.partition(":")
        credentials = self.ctx.credentials
        if client_id != credentials["client_id"]:
            return oauth_error("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest((secret or "").encode(), credentials["client_secret"].encode()):
            return oauth_error("invalid_client", "invalid client credentials")
        access_token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(72)}"
        issued_at = str(int(time.time() * 1000))
        identity = f"{self.ctx.base_url}/id/{ORG_ID}/{USER_ID}"
        # Salesforce signs id + issued_at with the client secret, so clients can verify them.
        signature = hmac.new(
            credentials["client_secret"].encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
        with self.ctx.store.connection() as conn:
            self.ctx.store.kv_put(conn, f"token:{access_token}", {"issued_at": int(issued_at)})
        return JSONResponse(
            {
                "access_token": access_token,
                "signature": base64.b64encode(signature).decode(),
                "scope": "api",
                "instance_url": self.ctx.base_url,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
            }
        )

    def session_valid(self, conn: psycopg.Connection, authorization: str | None) -> bool:
        """True when the bearer token was issued here and has not expired."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token.strip():
            return False
        state = self.ctx.store.kv_get(conn, f"token:{token.strip()}")
        if state is None:
            return False
        ttl_ms = float(self.ctx.switches["token_ttl_s"]) * 1000
        return time.time() * 1000 < state["issued_at"] + ttl_ms

    def count_call(self, conn: psycopg.Connection, limit: int) -> tuple[int, bool]:
        """Count one API call against the limit: ``(usage, allowed)``."""
        conn.execute(
            "INSERT INTO kv (key, value) VALUES (%s, '0'::jsonb) ON CONFLICT (key) DO NOTHING",
            (_USAGE_KEY,),
        )
        row = conn.execute(
            "UPDATE kv SET value = to_jsonb((value #>> '{}')::bigint + 1) "
            "WHERE key = %s AND (value #>> '{}')::bigint < %s RETURNING value",
            (_USAGE_KEY, limit),
        ).fetchone()
        if row is not None:
            return int(row["value"]), True  # type: ignore[call-overload]
        return int(self.ctx.store.kv_get(conn, _USAGE_KEY)), False

    def api(
        self,
        request: Request,
        version: str,
        handler: Callable[[psycopg.Connection], Response | dict[str, Any]],
    ) -> Response:
        """Authenticate and count a REST call, run ``handler``, add ``Sforce-Limit-Info``."""
        limit = int(self.ctx.switches["daily_api_limit"])
        store = self.ctx.store
        # The usage counter is committed on its own, so the row lock it takes is never held
        # while a query runs (concurrent calls would queue behind each other).
        with store.connection() as conn:
            if not self.session_valid(conn, request.headers.get("authorization")):
                return invalid_session()
            usage, allowed = self.count_call(conn, limit)
        if not allowed:
            response: Response = limit_exceeded()
        elif not _VERSION.match(version):
            response = not_found()
        else:
            try:
                with store.connection() as conn:
                    result = handler(conn)
                response = result if isinstance(result, Response) else JSONResponse(result)
            except SoqlError as exc:
                response = sf_error(400, exc.error_code, exc.salesforce_message())
            except SalesforceError as exc:
                response = exc.response()
        response.headers["Sforce-Limit-Info"] = f"api-usage={usage}/{limit}"
        return response

    def limits(self, conn: psycopg.Connection) -> dict[str, Any]:
        """``GET /limits``: the daily API allocation and what remains of it."""
        limit = int(self.ctx.switches["daily_api_limit"])
        used = int(self.ctx.store.kv_get(conn, _USAGE_KEY) or 0)
        return {"DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)}}

    # --- SOQL --------------------------------------------------------------------------------

    def derived_sql(
        self, sobject: SObjectDef, f: FieldDef, alias: str
    ) -> tuple[str, dict[str, Any]]:
        """SQL for ``IsWon``/``IsClosed``: the record's ``StageName`` in the configured stages."""
        key, stages = self._stages(f.name)
        return f"coalesce(({alias}.data->>'StageName') = ANY(%({key})s), false)", {key: stages}

    def _stages(self, derived_field: str) -> tuple[str, list[str]]:
        won = list(self.ctx.switches["won_stages"])
        if derived_field == "IsWon":
            return "won_stages", won
        return "closed_stages", won + list(self.ctx.switches["lost_stages"])

    def plan(self, q: str, include_deleted: bool) -> soql.Plan:
        """Parse and translate a SOQL query."""
        return soql.compile_query(
            soql.parse(q), SCHEMA, self.derived_sql, include_deleted=include_deleted
        )

    def batch_size(self, header: str | None, default: int = 2000) -> int:
        """The batch size from ``Sforce-Query-Options`` (200..2000), capped by the switch."""
        match = _BATCH_SIZE.search(header or "")
        requested = max(200, min(2000, int(match[1]))) if match else default
        return max(1, min(requested, int(self.ctx.switches["max_batch_size"])))

    def start_query(
        self,
        conn: psycopg.Connection,
        version: str,
        endpoint: str,
        q: str | None,
        options: str | None,
    ) -> dict[str, Any]:
        """Run a query: the first batch, and a query locator when more remain."""
        if q is None:
            raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
        plan = self.plan(q, include_deleted=endpoint == "queryAll")
        count = plan.query.count
        if count is not None:
            n = int(conn.execute(plan.count_sql, plan.params).fetchone()["n"])  # type: ignore[index,call-overload]
            if count.field is not None:
                record = {"attributes": {"type": "AggregateResult"}, count.alias or "expr0": n}
                return {"totalSize": 1, "done": True, "records": [record]}
            n = max(0, n - (plan.query.offset or 0))
            if plan.query.limit is not None:
                n = min(n, plan.query.limit)
            return {"totalSize": n, "done": True, "records": []}
        ids = [row["id"] for row in conn.execute(plan.ids_sql, plan.params)]  # type: ignore[call-overload]
        batch = self.batch_size(options)
        locator = None
        if len(ids) > batch:
            locator = "01g" + "".join(secrets.choice(_ALPHANUMERIC) for _ in range(15))
            self.ctx.store.kv_put(
                conn,
                f"locator:{locator}",
                {
                    "q": q,
                    "all": endpoint == "queryAll",
                    "ids": ids,
                    "batch": batch,
                    "touched": time.time(),
                },
            )
        return self.page(conn, plan, ids, offset=0, batch=batch, where=(version, endpoint, locator))

    def continue_query(
        self,
        conn: psycopg.Connection,
        version: str,
        endpoint: str,
        locator: str,
        options: str | None,
    ) -> dict[str, Any]:
        """The batch at ``<locator>-<offset>``."""
        match = _LOCATOR.match(locator)
        state = self.ctx.store.kv_get(conn, f"locator:{match[1]}") if match else None
        idle = time.time() - state["touched"] if state else 0.0
        offset = int(match[2]) if match else 0
        if (
            state is None
            or idle > float(self.ctx.switches["query_locator_ttl_s"])
            or not 0 < offset < len(state["ids"])
        ):
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        conn.execute(
            "UPDATE kv SET value = jsonb_set(value, '{touched}', to_jsonb(%s::float8)) "
            "WHERE key = %s",
            (time.time(), f"locator:{match[1]}"),  # type: ignore[index]
        )
        plan = self.plan(state["q"], include_deleted=state["all"])
        batch = self.batch_size(options, state["batch"])
        where = (version, endpoint, match[1])  # type: ignore[index]
        return self.page(conn, plan, state["ids"], offset=offset, batch=batch, where=where)

    def page(
        self,
        conn: psycopg.Connection,
        plan: soql.Plan,
        ids: list[int],
        *,
        offset: int,
        batch: int,
        where: tuple[str, str, str | None],
    ) -> dict[str, Any]:
        """One batch of a query result, in Salesforce's envelope.

        ``where`` is ``(version, endpoint, locator)``, for the ``nextRecordsUrl``.
        """
        version, endpoint, locator = where
        end = offset + batch
        body: dict[str, Any] = {"totalSize": len(ids), "done": end >= len(ids)}
        if end < len(ids):
            body["nextRecordsUrl"] = f"/services/data/{version}/{endpoint}/{locator}-{end}"
        body["records"] = self.render(conn, plan, ids[offset:end], version)
        return body

    # --- records -------------------------------------------------------------------------------

    def render(
        self, conn: psycopg.Connection, plan: soql.Plan, ids: list[int], version: str
    ) -> list[dict[str, Any]]:
        """The selected fields of these records, in this order (parents nested)."""
        rows = conn.execute(
            "SELECT id, data FROM record WHERE type = %s AND id = ANY(%s)",
            (plan.sobject.name, ids),
        ).fetchall()
        by_id = {row["id"]: row["data"] for row in rows}  # type: ignore[call-overload]
        docs = [by_id[i] for i in ids if i in by_id]
        tree: SelectTree = []
        for resolved in plan.fields:
            node = tree
            for rel in resolved.chain:
                entry = next((e for e in node if e[0] == "rel" and e[1] is rel), None)
                if entry is None:
                    entry = ("rel", rel, [])
                    node.append(entry)
                node = entry[2]
            node.append(("field", resolved.field))
        parents: dict[tuple[str, str], dict[str, Any]] = {}
        self._load_parents(conn, tree, docs, parents)
        return [self._render(tree, plan.sobject, doc, parents, version) for doc in docs]

    def _load_parents(
        self,
        conn: psycopg.Connection,
        tree: SelectTree,
        docs: list[dict[str, Any]],
        parents: dict[tuple[str, str], dict[str, Any]],
    ) -> None:
        for entry in tree:
            if entry[0] != "rel":
                continue
            rel, subtree = entry[1], entry[2]
            wanted = {d.get(rel.field) for d in docs} - {None}
            wanted -= {key for (kind, key) in parents if kind == rel.target}
            if wanted:
                rows = conn.execute(
                    "SELECT data FROM record WHERE type = %s AND data->>'Id' = ANY(%s)",
                    (rel.target, sorted(wanted)),
                ).fetchall()
                for row in rows:
                    parents[(rel.target, row["data"]["Id"])] = row["data"]  # type: ignore[call-overload]
            found = (parents.get((rel.target, d.get(rel.field))) for d in docs)
            self._load_parents(conn, subtree, [p for p in found if p], parents)

    def _render(
        self,
        tree: SelectTree,
        sobject: SObjectDef,
        doc: dict[str, Any],
        parents: dict[tuple[str, str], dict[str, Any]],
        version: str,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": self.attributes(sobject.name, doc, version)}
        for entry in tree:
            if entry[0] == "field":
                out[entry[1].name] = self.value(entry[1], doc)
                continue
            rel, subtree = entry[1], entry[2]
            parent = parents.get((rel.target, doc.get(rel.field)))
            out[rel.name] = (
                None
                if parent is None
                else self._render(subtree, SCHEMA[rel.target], parent, parents, version)
            )
        return out

    def attributes(self, type_name: str, doc: dict[str, Any], version: str) -> dict[str, str]:
        """A record's ``attributes`` (type and REST URL)."""
        return {
            "type": type_name,
            "url": f"/services/data/{version}/sobjects/{type_name}/{doc.get('Id')}",
        }

    def value(self, f: FieldDef, doc: dict[str, Any]) -> Any:
        """A field's value as answered (derived, dateTimes formatted, numbers as doubles)."""
        if f.derived:
            return doc.get("StageName") in self._stages(f.name)[1]
        raw = doc.get(f.name)
        if f.type == "datetime":
            return format_datetime(raw, self.ctx.switches["datetime_style"])
        if f.type == "number" and isinstance(raw, int) and not isinstance(raw, bool):
            return float(raw)
        return raw

    def read_record(
        self,
        conn: psycopg.Connection,
        version: str,
        type_name: str,
        sf_id: str,
        fields: str | None,
    ) -> dict[str, Any]:
        """``GET /sobjects/<type>/<Id>``: every field, or those in ``?fields=``."""
        sobject = _sobject(type_name)
        row = _find(conn, sobject, sf_id) if sobject else None
        if sobject is None or row is None:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        doc = row["data"]
        if doc.get("IsDeleted"):
            raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")
        chosen = list(sobject.fields)
        if fields:
            chosen = []
            for name in (n.strip() for n in fields.split(",")):
                f = sobject.field(name)
                if f is None:
                    raise SalesforceError(
                        400,
                        "INVALID_FIELD",
                        f"No such column '{name}' on entity '{sobject.name}'. If you are "
                        "attempting to use a custom field, be sure to append the '__c' after the "
                        "custom field name. Please reference your WSDL or the describe call for "
                        "the appropriate names.",
                    )
                chosen.append(f)
        out: dict[str, Any] = {"attributes": self.attributes(sobject.name, doc, version)}
        out.update({f.name: self.value(f, doc) for f in chosen})
        return out

    def update_record(
        self, conn: psycopg.Connection, path: str, type_name: str, sf_id: str, raw: bytes
    ) -> Response:
        """``PATCH /sobjects/<type>/<Id>``: set fields, bump the modstamps; logged either way.

        Errors are answered (not raised), so the logged attempt is committed.
        """
        sobject = _sobject(type_name)
        row = _find(conn, sobject, sf_id) if sobject else None
        try:
            body = self._parse_body(raw)
            if sobject is None or row is None:
                raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
            if row["data"].get("IsDeleted"):
                raise SalesforceError(404, "ENTITY_IS_DELETED", "entity is deleted")
            changes = {
                f.name: _coerce(f, value)
                for f, value in ((self._writable(sobject, k), v) for k, v in body.items())
            }
        except SalesforceError as exc:
            self.ctx.store.log_write(
                conn,
                method="PATCH",
                path=path,
                status=exc.status,
                record_type=sobject.name if sobject else type_name,
                record_id=row["id"] if row else None,
                body=_json_or_none(raw),
            )
            return exc.response()
        moment, stamp = now_stamp()
        data = {**row["data"], **changes, "LastModifiedDate": stamp, "SystemModstamp": stamp}
        self.ctx.store.put(conn, sobject.name, row["id"], data, at=moment)
        self.ctx.store.log_write(
            conn,
            method="PATCH",
            path=path,
            status=204,
            record_type=sobject.name,
            record_id=row["id"],
            body=body,
        )
        return Response(status_code=204)

    @staticmethod
    def _parse_body(raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            where = f"at [line:{exc.lineno}, column:{exc.colno}]"
            raise SalesforceError(400, "JSON_PARSER_ERROR", f"{exc.msg} {where}") from exc
        except ValueError as exc:
            raise SalesforceError(400, "JSON_PARSER_ERROR", "Invalid UTF-8 in the body") from exc
        if not isinstance(body, dict):
            raise SalesforceError(
                400,
                "JSON_PARSER_ERROR",
                "Cannot deserialize instance of sObject from a value that is not an object",
            )
        body.pop("attributes", None)
        return body

    @staticmethod
    def _writable(sobject: SObjectDef, name: str) -> FieldDef:
        f = sobject.field(name)
        if f is None:
            raise SalesforceError(
                400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject.name}"
            )
        if not f.updatable:
            raise SalesforceError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {f.name}. Please check the security settings of "
                "this field and verify that it is read/write for your profile or permission set.",
                [f.name],
            )
        return f

    # --- faults ------------------------------------------------------------------------------

    def insert_while_paging(self, path: str, query: str, count: int) -> None:
        """Clone the first record the paged query matches ``count`` times (see module doc)."""
        match = re.search(r"/services/data/[^/]+/(query|queryAll)(?:/([^/]+))?$", path)
        if match is None:
            return
        store = self.ctx.store
        with store.connection() as conn:
            if match[2]:
                locator = _LOCATOR.match(match[2])
                state = store.kv_get(conn, f"locator:{locator[1]}") if locator else None
                q, include_deleted = (state["q"], state["all"]) if state else (None, False)
            else:
                q = (parse_qs(query).get("q") or [None])[0]
                include_deleted = match[1] == "queryAll"
            if q is None:
                return
            try:
                plan = self.plan(q, include_deleted)
            except SoqlError:
                return
            first = conn.execute(plan.ids_sql, plan.params).fetchone()
            template: dict[str, Any] = {}
            if first is not None:
                template = store.get(conn, plan.sobject.name, first["id"]) or {}  # type: ignore[call-overload]
            moment, stamp = now_stamp()
            name = template.get("Name") or plan.sobject.name
            for n in range(1, count + 1):
                rid = store.next_id(conn)
                doc = {
                    **template,
                    "Id": record_id(plan.sobject.key_prefix, rid),
                    "Name": f"{name} (inserted while paging {n})",
                    "IsDeleted": False,
                    "CreatedDate": stamp,
                    "LastModifiedDate": stamp,
                    "SystemModstamp": stamp,
                }
                store.put(conn, plan.sobject.name, rid, doc, at=moment)


def _coerce(f: FieldDef, value: Any) -> Any:
    """A PATCH value checked against the field's type, as it is stored."""
    if value is None:
        return None
    if f.type == "reference":
        if not isinstance(value, str) or not soql.is_id(value):
            raise SalesforceError(
                400, "MALFORMED_ID", f"{f.name}: id value of incorrect type: {value}", [f.name]
            )
        return soql.to_id18(value)
    ok = {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "date": isinstance(value, str) and _is_date(value),
    }[f.type]
    if not ok:
        raise SalesforceError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of {soql.TYPE_NAMES[f.type]} from value {value!r} "
            "or request may be missing a required field",
        )
    return value


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


async def _routing_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Unknown resources and methods, answered the Salesforce way."""
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "GET, HEAD")
        return sf_error(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{request.method}' not allowed. Allowed are {allowed.replace(' ', '')}",
        )
    return not_found()


class SalesforceResponses(VendorResponses):
    """Salesforce's answers to injected faults (error arrays; throttling is 403)."""

    def __init__(self, vendor: SalesforceVendor) -> None:
        self.vendor = vendor

    def status(self, rule: FaultRule) -> Response:
        """403/429 ``REQUEST_LIMIT_EXCEEDED``, 401 ``INVALID_SESSION_ID``, 5xx Salesforce-like."""
        code = rule.status
        if code in (403, 429):
            body = ("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        elif code == 401:
            body = ("INVALID_SESSION_ID", "Session expired or invalid")
        elif code == 404:
            body = ("NOT_FOUND", "The requested resource does not exist")
        elif code == 503:
            body = ("SERVER_UNAVAILABLE", "Server temporarily unavailable. Please try again later.")
        else:
            error_id = f"{secrets.randbelow(10**9):09d}-{secrets.randbelow(10**5):05d}"
            body = (
                "UNKNOWN_EXCEPTION",
                "An unexpected error occurred. Please include this ErrorId if you contact "
                f"support: {error_id} ({-secrets.randbelow(10**9)})",
            )
        return sf_error(code, *body)

    def token_expired(self) -> Response:
        """The 401 ``INVALID_SESSION_ID`` array."""
        return invalid_session()

    def concurrency_exceeded(self, rule: FaultRule) -> Response:
        """Too many concurrent long-running requests: 403 ``REQUEST_LIMIT_EXCEEDED``."""
        return limit_exceeded("ConcurrentPerOrgLongTxn")

    def insert_while_paging(self, path: str, query: str, count: int) -> None:
        """Clone matching records (the query locator snapshot keeps later batches stable)."""
        self.vendor.insert_while_paging(path, query, count)
