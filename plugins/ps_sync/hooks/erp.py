"""The ERP hook: NetSuite SuiteTalk REST web services (record API and SuiteQL).

Connection (``erp_default``; see ``hooks/GOTCHAS.md`` for the vendor's surprises):

=========  ==============================================================================
host       ``https://<account>.suitetalk.api.netsuite.com`` or a sandbox's
           ``http://127.0.0.1:PORT`` (a trailing ``/services/rest`` is accepted); when empty,
           derived from ``account_id`` (``1234567_SB1`` → ``1234567-sb1``)
login      the integration's consumer key
password   the integration's consumer secret
extra      ``account_id`` (the OAuth realm, e.g. ``1234567_SB1``), ``token_id``,
           ``token_secret``; optional ``max_concurrency`` (this process's share of the
           account's concurrency limit, default 10), ``connect_timeout`` (10 s),
           ``read_timeout`` (180 s), ``max_attempts`` (6), ``backoff_cap`` (30 s)
=========  ==============================================================================
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from airflow.sdk import BaseHook

from ps_sync.hooks.http import (
    ApiClient,
    APIError,
    ConfigurationError,
    FatalAPIError,
    NetSuiteOffsetPagination,
    NetSuiteTBAAuth,
    NotFoundError,
    Page,
    RecordRejectedError,
    RetryPolicy,
    Timeouts,
    VendorError,
    base_url_of,
    connection_extra,
    extra_number,
    lookup_connection,
    policy_from_extra,
    record_rejections,
    require_extras,
    timeouts_from_extra,
)

log = logging.getLogger(__name__)

REST_PATH = "/services/rest"
RECORD_PATH = "/record/v1"
SUITEQL_PATH = "/query/v1/suiteql"
# SuiteQL pages through at most this many rows of one query (Oracle's documented hard cap).
SUITEQL_MAX_RESULTS = 100_000
CONCURRENCY_LIMIT_EXCEEDED = "CONCURRENCY_LIMIT_EXCEEDED"
DEFAULT_MAX_CONCURRENCY = 10
AUTH_HINT = "check the consumer key/secret, token id/secret and account_id (realm)"
REQUIRED_EXTRAS = {
    "account_id": "the NetSuite account id (OAuth realm), e.g. 1234567_SB1",
    "token_id": "the access token id",
    "token_secret": "the access token secret",
}

# One semaphore per account and limit, shared by every hook instance in this process: the limit
# is the account's, not a hook's.
_SEMAPHORES: dict[tuple[str, str, int], threading.BoundedSemaphore] = {}
_SEMAPHORES_LOCK = threading.Lock()


def account_semaphore(base_url: str, account_id: str, limit: int) -> threading.BoundedSemaphore:
    """The process-wide semaphore bounding requests in flight to one NetSuite account."""
    key = (base_url, account_id.upper(), limit)
    with _SEMAPHORES_LOCK:
        if key not in _SEMAPHORES:
            _SEMAPHORES[key] = threading.BoundedSemaphore(limit)
        return _SEMAPHORES[key]


def netsuite_error(body: Any) -> VendorError:
    """NetSuite's error envelope: ``o:errorDetails[0]`` (code, detail, ``o:errorPath``)."""
    if not isinstance(body, dict):
        return VendorError()
    details = body.get("o:errorDetails")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        first = details[0]
        return VendorError(
            first.get("o:errorCode") or body.get("o:errorCode"),
            first.get("detail"),
            first.get("o:errorPath"),
        )
    return VendorError(body.get("o:errorCode"), body.get("title"), None)


def normalise_base_url(host: str, port: int | None = None) -> str:
    """The service root from a connection's host, without a trailing ``/services/rest``."""
    url = base_url_of(host, port)
    return url.removesuffix(REST_PATH)


def account_host(account_id: str) -> str:
    """NetSuite's REST host for an account id (``1234567_SB1`` → ``1234567-sb1``)."""
    return f"https://{account_id.lower().replace('_', '-')}.suitetalk.api.netsuite.com"


def eid(external_id: str) -> str:
    """The URL form of an external id (``eid:<value>``)."""
    return "eid:" + quote(external_id, safe="")


class UpsertItem(NamedTuple):
    """One record to upsert: its type, its external id and its body."""

    record_type: str
    external_id: str
    body: Mapping[str, Any]


@dataclass(frozen=True)
class UpsertResult:
    """The outcome of one upsert: the internal id, or why NetSuite refused the record."""

    record_type: str
    external_id: str
    internal_id: str | None = None
    error: RecordRejectedError | None = None

    @property
    def ok(self) -> bool:
        """True when the record is in NetSuite."""
        return self.error is None


@dataclass(frozen=True)
class _Setup:
    client: ApiClient
    max_concurrency: int


class NetSuiteHook(BaseHook):
    """NetSuite SuiteTalk REST (the ERP): SuiteQL reads, record reads, upserts by external id.

    Nothing is read or opened in the constructor: the connection is looked up and the HTTP
    session created on first use. Every request holds a slot of a process-wide semaphore sized
    by the connection's ``max_concurrency``; ``CONCURRENCY_LIMIT_EXCEEDED`` (429 or 400, sources
    disagree) is retried, so other processes sharing the account's limit only slow it down.

    Args:
        erp_conn_id: the Airflow connection (see the module docstring for its fields).
        retry_policy: overrides the default policy (tests use short waits).
        logger_name: Airflow's hook logger name, if not the default.
    """

    conn_name_attr = "erp_conn_id"
    default_conn_name = "erp_default"
    conn_type = "netsuite"
    hook_name = "NetSuite (ERP)"
    system = "NetSuite"

    def __init__(
        self,
        erp_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.erp_conn_id = erp_conn_id
        self._retry_policy = retry_policy

    # --- connection ------------------------------------------------------------------------

    @property
    def client(self) -> ApiClient:
        """The API client, built from the connection on first use."""
        return self._setup.client

    @property
    def max_concurrency(self) -> int:
        """Requests this process keeps in flight to the account at most."""
        return self._setup.max_concurrency

    @cached_property
    def _setup(self) -> _Setup:
        conn_id = self.erp_conn_id
        conn = lookup_connection(
            conn_id,
            f"conn_type {self.conn_type!r}, login = consumer key, password = consumer secret, "
            "extra = account_id, token_id, token_secret",
        )
        extra = connection_extra(conn, conn_id)
        for field_name, label in (
            ("login", "the integration's consumer key"),
            ("password", "the integration's consumer secret"),
        ):
            if not getattr(conn, field_name):
                raise ConfigurationError(
                    f"Connection '{conn_id}' has no {field_name}: set it to {label}"
                )
        require_extras(extra, conn_id, REQUIRED_EXTRAS)
        account_id = str(extra["account_id"])
        base_url = normalise_base_url(conn.host or account_host(account_id), conn.port)
        limit = extra_number(
            extra, "max_concurrency", DEFAULT_MAX_CONCURRENCY, conn_id=conn_id, integer=True
        )
        policy = policy_from_extra(extra, conn_id, self._retry_policy or RetryPolicy())
        client = ApiClient(
            system=self.system,
            conn_id=conn_id,
            base_url=base_url + REST_PATH,
            auth=NetSuiteTBAAuth(
                account_id=account_id,
                consumer_key=conn.login,
                consumer_secret=conn.password,
                token_id=str(extra["token_id"]),
                token_secret=str(extra["token_secret"]),
            ),
            error_parser=netsuite_error,
            policy=policy.with_codes(CONCURRENCY_LIMIT_EXCEEDED),
            timeouts=timeouts_from_extra(extra, conn_id, Timeouts(read=180.0)),
            auth_hint=AUTH_HINT,
            concurrency=account_semaphore(base_url, account_id, limit),
            pool_size=limit,
            logger=log,
        )
        return _Setup(client, limit)

    def get_conn(self) -> ApiClient:
        """The API client (Airflow's hook interface)."""
        return self.client

    def close(self) -> None:
        """Close the HTTP session."""
        if "_setup" in self.__dict__:
            self.client.close()

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's connection test: one SuiteQL row."""
        try:
            next(self.suiteql("SELECT id FROM subsidiary", page_size=1), None)
        except (APIError, ConfigurationError) as exc:
            return False, str(exc)
        return True, "Connected to NetSuite"

    # --- reads -----------------------------------------------------------------------------

    def suiteql_pages(
        self,
        query: str,
        params: Sequence[Any] | None = None,
        *,
        page_size: int = 1000,
        unique_key: str | None = None,
    ) -> Iterator[Page]:
        """Every page of a SuiteQL query, in order (``Prefer: transient``, ``links`` removed).

        Args:
            query: the SuiteQL text; give it a unique ``ORDER BY`` (Oracle: paging without one
                may repeat or skip rows). Dates come back as ``M/D/YYYY`` unless formatted with
                ``TO_CHAR(field, 'YYYY-MM-DD')``.
            params: values for ``?`` placeholders, sent as ``params`` next to ``q``.
            page_size: rows per page (1..1000).
            unique_key: a column identifying a row, to drop rows an earlier page already
                yielded (offsets shift when rows are inserted while paging).

        Raises:
            FatalAPIError: the query matches more rows than SuiteQL pages through (100,000).
        """
        body: dict[str, Any] = {"q": query}
        if params:
            body["params"] = list(params)
        client = self.client

        def fetch(paging: dict[str, Any]) -> Any:
            return client.request(
                "POST",
                SUITEQL_PATH,
                params=paging,
                json_body=body,
                headers={"Prefer": "transient"},
                idempotent=True,
                detail_in_message=True,
            ).body

        pagination = NetSuiteOffsetPagination(limit=page_size, unique_key=unique_key)
        started = time.perf_counter()
        pages = rows = 0
        for page in pagination.pages(fetch, {}):
            if page.number == 1 and (page.total or 0) > SUITEQL_MAX_RESULTS:
                raise FatalAPIError(
                    f"NetSuite SuiteQL query matches {page.total} rows, more than the "
                    f"{SUITEQL_MAX_RESULTS} one query can page through: narrow its window or "
                    "page by key (WHERE id > ? ORDER BY id)",
                    system=self.system,
                    method="POST",
                    path=SUITEQL_PATH,
                )
            pages += 1
            rows += len(page.records)
            yield page
        log.info(
            "NetSuite SuiteQL: %d rows in %d pages in %.2fs",
            rows,
            pages,
            time.perf_counter() - started,
        )

    def suiteql(
        self,
        query: str,
        params: Sequence[Any] | None = None,
        *,
        page_size: int = 1000,
        unique_key: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every row of a SuiteQL query, in order (see :meth:`suiteql_pages`).

        Rows are dicts of lowercase column names; NetSuite serves values as strings and leaves
        out null columns.
        """
        for page in self.suiteql_pages(query, params, page_size=page_size, unique_key=unique_key):
            yield from page.records

    def get(
        self,
        record_type: str,
        record_id: str | int,
        *,
        expand_sub_resources: bool = False,
        fields: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """One record as NetSuite serves it (with its ``links``).

        Args:
            record_type: the REST record type (``customer``, ``timeBill``, ...).
            record_id: the internal id, or ``eid:<externalId>``.
            expand_sub_resources: expand sublists (NetSuite collapses them to links).
            fields: only these body fields.

        Raises:
            NotFoundError: no such record.
        """
        params: dict[str, str] = {}
        if expand_sub_resources:
            params["expandSubResources"] = "true"
        if fields:
            params["fields"] = ",".join(fields)
        return self.client.get(f"{RECORD_PATH}/{record_type}/{record_id}", params)

    def get_by_external_id(
        self, record_type: str, external_id: str, **kwargs: Any
    ) -> dict[str, Any] | None:
        """The record with this external id, or None (takes :meth:`get`'s keyword arguments)."""
        try:
            return self.get(record_type, eid(external_id), **kwargs)
        except NotFoundError:
            return None

    # --- writes ----------------------------------------------------------------------------

    def upsert(self, record_type: str, external_id: str, body: Mapping[str, Any]) -> str:
        """Create or replace the record with this external id; return its internal id.

        ``PUT .../record/v1/<type>/eid:<externalId>`` is idempotent, so an answer lost after
        NetSuite committed the write is simply sent again: one record either way.

        Raises:
            RecordRejectedError: NetSuite refused the record's content (a data problem).
        """
        path = f"{RECORD_PATH}/{record_type}/{eid(external_id)}"
        with record_rejections(record_type, f"eid:{external_id}"):
            response = self.client.request("PUT", path, json_body=dict(body))
        internal_id = _id_from_location(response.headers.get("Location"))
        if internal_id is None:
            found = self.get(record_type, eid(external_id), fields=["id"])
            internal_id = str(found["id"])
        return internal_id

    def upsert_many(
        self,
        items: Iterable[UpsertItem | tuple[str, str, Mapping[str, Any]]],
        max_workers: int | None = None,
    ) -> list[UpsertResult]:
        """Upsert many records in parallel, under the account's concurrency limit.

        A record NetSuite refuses is reported in its result and does not stop the others.
        Any other failure (credentials, retries exhausted, a wrong record type) stops the batch:
        records not yet sent are not sent, and the error is raised; upserts by external id make
        sending the whole batch again safe.

        Args:
            items: ``(record_type, external_id, body)`` triples.
            max_workers: threads (default: the connection's ``max_concurrency``).

        Returns:
            One result per item, in the items' order.
        """
        batch = [UpsertItem(*item) for item in items]
        if not batch:
            return []
        workers = min(max_workers or self.max_concurrency, len(batch))
        started = time.perf_counter()
        stop = threading.Event()

        def run(item: UpsertItem) -> UpsertResult | None:
            # Workers pick the next item as soon as they finish one: after a failure that
            # stops the batch, they must not send anything more.
            if stop.is_set():
                return None
            try:
                return self._upsert_one(item)
            except BaseException:
                stop.set()
                raise

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="netsuite-upsert") as pool:
            futures = [pool.submit(run, item) for item in batch]
            wait(futures, return_when=FIRST_EXCEPTION)
            if stop.is_set():
                for future in futures:
                    future.cancel()
        for future in futures:
            error = None if future.cancelled() else future.exception()
            if error is not None:
                raise error
        results = [r for r in (f.result() for f in futures) if r is not None]
        refused = sum(not r.ok for r in results)
        log.info(
            "NetSuite upserts: %d records (%d refused) with %d workers in %.2fs",
            len(results),
            refused,
            workers,
            time.perf_counter() - started,
        )
        return results

    def _upsert_one(self, item: UpsertItem) -> UpsertResult:
        try:
            internal_id = self.upsert(item.record_type, item.external_id, item.body)
        except RecordRejectedError as exc:
            return UpsertResult(item.record_type, item.external_id, error=exc)
        return UpsertResult(item.record_type, item.external_id, internal_id=internal_id)

    def delete(self, record_type: str, record_id: str | int, *, missing_ok: bool = False) -> None:
        """Delete a record (internal id or ``eid:<externalId>``).

        Args:
            record_type: the REST record type.
            record_id: the internal id, or ``eid:<externalId>``.
            missing_ok: succeed when the record does not exist (e.g. a retry after an answer
                was lost, when the first attempt already deleted it).

        Raises:
            NotFoundError: no such record (unless ``missing_ok``).
        """
        try:
            self.client.request("DELETE", f"{RECORD_PATH}/{record_type}/{record_id}")
        except NotFoundError:
            if not missing_ok:
                raise


def _id_from_location(location: str | None) -> str | None:
    """The internal id at the end of a ``Location`` header (None when absent or not an id)."""
    if not location:
        return None
    last = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
    return last if last.isdigit() else None
