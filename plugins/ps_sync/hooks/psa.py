"""The PSA hook: Kantata OX (formerly Mavenlink) API v1.

Connection (``psa_default``; see ``hooks/GOTCHAS.md`` for the vendor's surprises):

=========  ==============================================================================
host       the API base URL: ``https://api.mavenlink.com/api/v1`` or a sandbox's
           ``http://127.0.0.1:PORT/api/v1``; ``/api/v1`` is added when missing, ``https://``
           when no scheme is given
password   the OAuth 2 bearer token
extra      optional: ``per_page`` (1..200, default 200), ``connect_timeout`` (10 s),
           ``read_timeout`` (60 s), ``max_attempts`` (6), ``backoff_cap`` (30 s)
=========  ==============================================================================
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from ps_sync.hooks.http import (
    ApiClient,
    APIError,
    BearerTokenAuth,
    ConfigurationError,
    FatalAPIError,
    KantataPagination,
    NotFoundError,
    Page,
    RetryPolicy,
    Timeouts,
    VendorError,
    base_url_of,
    connection_extra,
    extra_number,
    kantata_records,
    lookup_connection,
    policy_from_extra,
    record_rejections,
    timeouts_from_extra,
)

log = logging.getLogger(__name__)

API_PATH = "/api/v1"
# Kantata hides these collections' records in archived workspaces unless asked (reference §1.5):
# a sync that did not ask would silently lose time logged on projects closed since.
FROM_ARCHIVED_WORKSPACES = frozenset({"time_entries", "expenses", "stories"})
AUTH_HINT = (
    "check the connection's password (the Kantata OAuth bearer token) and that the token is "
    "still valid"
)


def kantata_error(body: Any) -> VendorError:
    """Kantata's error body: ``{"errors": [{"type", "message", "field"}]}`` or legacy
    ``{"error_message": ...}``."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return VendorError(first.get("type"), first.get("message"), first.get("field"))
        if isinstance(body.get("error_message"), str):
            return VendorError(None, body["error_message"], None)
    return VendorError()


def singular(collection: str) -> str:
    """Kantata's singular root key of a collection (``time_entries`` → ``time_entry``)."""
    if collection.endswith("ies"):
        return collection[:-3] + "y"
    return collection.removesuffix("s")


def query_value(value: Any) -> str:
    """A filter value as Kantata expects it in a query string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"pass a timezone-aware datetime, got {value!r}")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value)
    return str(value)


def normalise_base_url(host: str, port: int | None = None) -> str:
    """The API root from a connection's host: ``/api/v1`` appended when missing."""
    url = base_url_of(host, port)
    return url if url.endswith(API_PATH) else url + API_PATH


@dataclass(frozen=True)
class _Setup:
    client: ApiClient
    per_page: int


class KantataHook(BaseHook):
    """Kantata OX API v1 (the PSA): paged reads, single-record reads and writes.

    Nothing is read or opened in the constructor: the connection is looked up and the HTTP
    session created on first use.

    Args:
        psa_conn_id: the Airflow connection (see the module docstring for its fields).
        retry_policy: overrides the default policy (tests use short waits).
        logger_name: Airflow's hook logger name, if not the default.
    """

    conn_name_attr = "psa_conn_id"
    default_conn_name = "psa_default"
    conn_type = "kantata"
    hook_name = "Kantata OX (PSA)"
    system = "Kantata"

    def __init__(
        self,
        psa_conn_id: str = default_conn_name,
        *,
        retry_policy: RetryPolicy | None = None,
        logger_name: str | None = None,
    ) -> None:
        super().__init__(logger_name=logger_name)
        self.psa_conn_id = psa_conn_id
        self._retry_policy = retry_policy

    # --- connection ------------------------------------------------------------------------

    @property
    def client(self) -> ApiClient:
        """The API client, built from the connection on first use."""
        return self._setup.client

    @cached_property
    def _setup(self) -> _Setup:
        conn_id = self.psa_conn_id
        conn = lookup_connection(
            conn_id,
            f"conn_type {self.conn_type!r}, host = the API base URL, password = the bearer token",
        )
        if not conn.host:
            raise ConfigurationError(
                f"Connection '{conn_id}' has no host: set it to the Kantata API base URL, "
                "e.g. https://api.mavenlink.com/api/v1"
            )
        if not conn.password:
            raise ConfigurationError(
                f"Connection '{conn_id}' has no password: set it to the Kantata OAuth bearer token"
            )
        extra = connection_extra(conn, conn_id)
        per_page = extra_number(extra, "per_page", 200, conn_id=conn_id, integer=True)
        if per_page > 200:
            raise ConfigurationError(
                f"Connection '{conn_id}': extra 'per_page' must be at most 200 (Kantata clamps "
                f"larger pages silently), got {per_page}"
            )
        client = ApiClient(
            system=self.system,
            conn_id=conn_id,
            base_url=normalise_base_url(conn.host, conn.port),
            auth=BearerTokenAuth(conn.password),
            error_parser=kantata_error,
            policy=policy_from_extra(extra, conn_id, self._retry_policy or RetryPolicy()),
            timeouts=timeouts_from_extra(extra, conn_id, Timeouts()),
            auth_hint=AUTH_HINT,
            logger=log,
        )
        return _Setup(client, per_page)

    def get_conn(self) -> ApiClient:
        """The API client (Airflow's hook interface)."""
        return self.client

    def close(self) -> None:
        """Close the HTTP session."""
        if "_setup" in self.__dict__:
            self.client.close()

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's connection test: read the token's own user."""
        try:
            me = self.get("users", "me")
        except (APIError, ConfigurationError) as exc:
            return False, str(exc)
        return True, f"Connected to Kantata as user id {me.get('id')}"

    # --- reads -----------------------------------------------------------------------------

    def iter_pages(
        self,
        collection: str,
        *,
        updated_after: datetime | str | None = None,
        updated_before: datetime | str | None = None,
        approved: bool | None = None,
        from_archived_workspaces: bool | None = None,
        per_page: int | None = None,
        **params: Any,
    ) -> Iterator[Page]:
        """Every page of a collection, in order, each with its metrics.

        Args:
            collection: the collection (``time_entries``, ``expenses``, ``workspaces``, ...).
            updated_after: only records updated strictly after this instant (Kantata's
                ``updated_after``; aware datetimes or ISO 8601 strings).
            updated_before: only records updated strictly before this instant.
            approved: True for approved time/expenses only. Kantata reads ``approved=false`` as
                approved-only too, so False is refused rather than sent.
            from_archived_workspaces: include records of archived workspaces; defaults to True
                for ``time_entries``, ``expenses`` and ``stories``, which Kantata otherwise
                hides.
            per_page: page size (default: the connection's, 200).
            **params: any other Kantata filter (``workspace_id``, ``date_performed_between``,
                ``order``, ``include``, ...); lists become comma lists, booleans ``true``.

        Yields:
            Pages whose records are the objects exactly as served, without repeats.
        """
        query = self._query(
            collection,
            params,
            updated_after=updated_after,
            updated_before=updated_before,
            approved=approved,
            from_archived_workspaces=from_archived_workspaces,
        )
        client = self.client
        pagination = KantataPagination(per_page=per_page or self._setup.per_page)
        path = f"/{collection}"
        started = time.perf_counter()
        pages = records = duplicates = 0
        for page in pagination.pages(lambda p: client.get(path, p), query):
            pages += 1
            records += len(page.records)
            duplicates += page.duplicates
            yield page
        log.info(
            "Kantata %s: %d records in %d pages (%d repeats dropped) in %.2fs",
            collection,
            records,
            pages,
            duplicates,
            time.perf_counter() - started,
        )

    def iter_records(self, collection: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every record of a collection, in order, de-duplicated, exactly as served.

        Takes the arguments of :meth:`iter_pages`.
        """
        for page in self.iter_pages(collection, **kwargs):
            yield from page.records

    def get(
        self,
        collection: str,
        record_id: str | int,
        *,
        from_archived_workspaces: bool | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """One record (``users/me`` with ``record_id="me"``).

        Args:
            collection: the collection.
            record_id: the record's id.
            from_archived_workspaces: as in :meth:`iter_pages` (a record of an archived
                workspace is otherwise "not found").
            **params: other query parameters (``include``, ...).

        Raises:
            NotFoundError: no such record, or it is hidden (archived) from this request.
        """
        query = self._query(collection, params, from_archived_workspaces=from_archived_workspaces)
        body = self.client.get(f"/{collection}/{record_id}", query)
        return _single(body, collection, record_id)

    # --- writes ----------------------------------------------------------------------------

    def update(
        self, collection: str, record_id: str | int, fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Update one record (PUT with the singular root key); return it as Kantata answers.

        Raises:
            RecordRejectedError: Kantata refused the values (validation).
            NotFoundError: no such record.
        """
        payload = {singular(collection): dict(fields)}
        with record_rejections(collection, str(record_id)):
            response = self.client.request("PUT", f"/{collection}/{record_id}", json_body=payload)
        return _single(response.body, collection, record_id)

    def create(self, collection: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Create one record (POST with the singular root key); return it as Kantata answers.

        A create is not idempotent: it is retried only when Kantata certainly did not process
        it (429/503, no connection); otherwise its failure says the outcome is unknown.

        Raises:
            RecordRejectedError: Kantata refused the values (validation).
        """
        payload = {singular(collection): dict(fields)}
        with record_rejections(collection, "(new)"):
            response = self.client.request("POST", f"/{collection}", json_body=payload)
        records = kantata_records(response.body)
        if len(records) != 1:
            raise FatalAPIError(
                f"Kantata POST /{collection} answered {len(records)} records instead of one",
                system=self.system,
                method="POST",
                path=f"/{collection}",
            )
        return records[0]

    # --- helpers ---------------------------------------------------------------------------

    def _query(
        self,
        collection: str,
        params: Mapping[str, Any],
        *,
        updated_after: datetime | str | None = None,
        updated_before: datetime | str | None = None,
        approved: bool | None = None,
        from_archived_workspaces: bool | None = None,
    ) -> dict[str, str]:
        if approved is False or ("approved" in params and params["approved"] is not True):
            raise ValueError(
                "Kantata's approved filter always means approved-only (any value); to read "
                "unapproved records, omit it and filter on each record's 'approved' field"
            )
        if from_archived_workspaces is None:
            from_archived_workspaces = collection in FROM_ARCHIVED_WORKSPACES
        query: dict[str, Any] = dict(params)
        if from_archived_workspaces:
            query["from_archived_workspaces"] = True
        if approved:
            query["approved"] = True
        if updated_after is not None:
            query["updated_after"] = updated_after
        if updated_before is not None:
            query["updated_before"] = updated_before
        return {k: query_value(v) for k, v in query.items() if v is not None}


def _single(body: Any, collection: str, record_id: str | int) -> dict[str, Any]:
    records = kantata_records(body)
    if not records:
        raise NotFoundError(
            f"Kantata {collection} {record_id} was not in the answer",
            system="Kantata",
            path=f"/{collection}/{record_id}",
            status=404,
        )
    return records[0]
