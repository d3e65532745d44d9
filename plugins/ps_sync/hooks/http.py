"""The HTTP machinery every ps-sync vendor hook shares, as small strategy classes.

A hook composes an :class:`ApiClient` from:

* an auth strategy (:class:`BearerTokenAuth`, :class:`NetSuiteTBAAuth`), applied to every
  attempt, so OAuth 1.0a gets a fresh nonce and timestamp on each retry;
* a :class:`RetryPolicy` (which failures retry, how long to wait, ``Retry-After``);
* a vendor error parser (the vendor's error envelope → code, detail, field path);
* a pagination strategy (:class:`KantataPagination`, :class:`NetSuiteOffsetPagination`) that only
  sees decoded pages, never HTTP.

Every failure ends as one of the exceptions below: :class:`RetryableAPIError` (worth trying again
later: throttling, 5xx, timeouts, resets, garbled pages, after the policy's attempts are spent) or
:class:`FatalAPIError` (retrying cannot help: credentials, permissions, a refused record, a bad
request). Logs name the system, method, path, status, vendor error code, attempt and wait; never
query strings, bodies, headers, tokens or record values.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase
from requests_oauthlib import OAuth1
from urllib3.exceptions import MaxRetryError, NewConnectionError

from ps_sync import __version__

USER_AGENT = f"ps-sync/{__version__} python-requests/{requests.__version__}"
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
log = logging.getLogger(__name__)


# --- errors ------------------------------------------------------------------------------------


class ConfigurationError(RuntimeError):
    """A connection is missing or has an invalid field; the message names the connection id and
    the field to fix."""


class APIError(Exception):
    """A vendor API call that did not succeed.

    Args:
        message: what happened, without bodies, secrets or record values.
        system: the vendor system (``Kantata``, ``NetSuite``).
        method: HTTP method.
        path: URL path (never the query string).
        status: HTTP status, None for transport failures.
        code: the vendor's error code (``INVALID_LOGIN``, ``validation``, ...).
        detail: the vendor's error message (may echo values the request sent).
        error_path: the vendor's pointer to the offending field (``o:errorPath``, ``field``).
        transport: a failure below the vendor's answer (no answer, a body that is not JSON).
    """

    def __init__(
        self,
        message: str,
        *,
        system: str = "",
        method: str = "",
        path: str = "",
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        error_path: str | None = None,
        transport: str | None = None,
    ) -> None:
        super().__init__(message)
        self.system = system
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.detail = detail
        self.error_path = error_path
        self.transport = transport

    @property
    def outcome(self) -> str:
        """What went wrong, for logs: the status and vendor code, or the transport failure."""
        return self.transport or f"status {self.status}, code {self.code}"


class RetryableAPIError(APIError):
    """A transient failure: the same call may succeed later (the policy's attempts are spent)."""


class FatalAPIError(APIError):
    """A failure retrying cannot fix."""


class AuthenticationError(FatalAPIError):
    """The vendor refused the connection's credentials (401) or their permissions (403)."""


class NotFoundError(FatalAPIError):
    """The record or resource does not exist (404)."""


class RecordRejectedError(FatalAPIError):
    """The vendor refused one record's content (a validation error).

    A per-record data problem for the exception queue, not a crash: the pipeline holds the
    record with :attr:`code`, :attr:`detail` and :attr:`error_path` as the reason. ``str()`` leaves
    the detail out because vendors echo the rejected value in it (it may be personal data).

    Args:
        record_type: the vendor's record type or collection.
        record_key: the record's key as the caller knows it (external id or id).
        error: the refusal as the client raised it.
    """

    def __init__(self, record_type: str, record_key: str, error: APIError) -> None:
        where = f" at {error.error_path}" if error.error_path else ""
        super().__init__(
            f"{error.system} refused {record_type} {record_key} "
            f"({error.code or error.status}{where})",
            system=error.system,
            method=error.method,
            path=error.path,
            status=error.status,
            code=error.code,
            detail=error.detail,
            error_path=error.error_path,
        )
        self.record_type = record_type
        self.record_key = record_key


@contextmanager
def record_rejections(record_type: str, record_key: str) -> Iterator[None]:
    """Inside the block, a 400/422 answer to a write becomes :class:`RecordRejectedError`."""
    try:
        yield
    except FatalAPIError as exc:
        if exc.status in (400, 422) and not isinstance(exc, RecordRejectedError):
            raise RecordRejectedError(record_type, record_key, exc) from exc
        raise


@dataclass(frozen=True)
class VendorError:
    """What a vendor's error body says: its code, message and the field at fault."""

    code: str | None = None
    detail: str | None = None
    path: str | None = None


ErrorParser = Callable[[Any], VendorError]


# --- retry policy ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """Which failures retry, and how long to wait between attempts.

    Waits grow exponentially (``backoff_base * 2 ** (attempt - 1)``, at most ``backoff_cap``) with
    jitter (up to ``jitter`` of the wait taken off, so clients do not retry in lockstep). A
    ``Retry-After`` answer (seconds or HTTP-date) is honoured exactly instead; one asking for more
    than ``max_retry_after`` seconds ends the retries (the task's own retry comes later).

    Args:
        max_attempts: attempts per request, the first included.
        backoff_base: the first wait, in seconds.
        backoff_cap: the longest computed wait.
        jitter: fraction of a computed wait that is randomly taken off (0 = none).
        max_retry_after: the longest ``Retry-After`` the client sleeps through.
        retry_statuses: statuses that retry a request whose effect is idempotent.
        unprocessed_statuses: statuses meaning "not processed", which retry any request.
        retry_codes: vendor error codes meaning "refused before processing, try again"
            (NetSuite ``CONCURRENCY_LIMIT_EXCEEDED``), whatever the status.
        sleep: how to wait (tests inject a recorder).
        random: a source of floats in [0, 1) for the jitter.
        clock: seconds since the epoch, to turn an HTTP-date into a wait.
    """

    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    jitter: float = 0.5
    max_retry_after: float = 300.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    unprocessed_statuses: frozenset[int] = frozenset({429, 503})
    retry_codes: frozenset[str] = frozenset()
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    random: Callable[[], float] = field(default=random.random, compare=False)
    clock: Callable[[], float] = field(default=time.time, compare=False)

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1-based), without ``Retry-After``."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** max(attempt - 1, 0))
        return ceiling * (1 - self.jitter * self.random())

    def retry_after(self, value: str | None) -> float | None:
        """Seconds a ``Retry-After`` header asks for (None when absent or unreadable)."""
        if value is None or not value.strip():
            return None
        text = value.strip()
        if text.isdigit():
            return float(text)
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - self.clock())

    def wait(self, attempt: int, retry_after: str | None) -> float | None:
        """The wait before the next attempt; None when the server asks for too long."""
        asked = self.retry_after(retry_after)
        if asked is None:
            return self.backoff(attempt)
        return asked if asked <= self.max_retry_after else None

    def retries_status(self, status: int, code: str | None, *, idempotent: bool) -> bool:
        """True when an answer with this status and vendor code is worth another attempt."""
        if code is not None and code in self.retry_codes:
            return True
        if status in self.unprocessed_statuses:
            return True
        return idempotent and status in self.retry_statuses

    def with_codes(self, *codes: str) -> RetryPolicy:
        """This policy, also retrying the vendor error ``codes``."""
        return replace(self, retry_codes=self.retry_codes | frozenset(codes))


# --- auth strategies ---------------------------------------------------------------------------


class BearerTokenAuth(AuthBase):
    """``Authorization: Bearer <token>`` (Kantata's OAuth 2 access token).

    Args:
        token: the access token.
    """

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the header to one request."""
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerTokenAuth(token=***)"


class NetSuiteTBAAuth(OAuth1):
    """NetSuite token-based authentication: OAuth 1.0a, HMAC-SHA256, ``realm`` = account id.

    Each request is signed with a fresh nonce and timestamp (NetSuite refuses a replayed nonce
    with ``INVALID_LOGIN``), so retries are signed again rather than resent.

    Args:
        account_id: the NetSuite account id, e.g. ``1234567_SB1`` (the OAuth realm).
        consumer_key: the integration record's consumer key.
        consumer_secret: the integration record's consumer secret.
        token_id: the access token id.
        token_secret: the access token secret.
    """

    def __init__(
        self,
        account_id: str,
        consumer_key: str,
        consumer_secret: str,
        token_id: str,
        token_secret: str,
    ) -> None:
        super().__init__(
            consumer_key,
            client_secret=consumer_secret,
            resource_owner_key=token_id,
            resource_owner_secret=token_secret,
            signature_method="HMAC-SHA256",
            realm=account_id,
        )
        self.account_id = account_id

    def __repr__(self) -> str:
        return f"NetSuiteTBAAuth(account_id={self.account_id!r}, secrets=***)"


# --- pagination strategies ---------------------------------------------------------------------

Fetch = Callable[[dict[str, Any]], Any]
"""Fetch one page: query parameters in, the decoded JSON body out."""


@dataclass
class Page:
    """One page of a listing, with the metrics a stager logs.

    Attributes:
        number: 1-based page number.
        records: the page's records, in the vendor's order, without repeats of earlier pages.
        served: how many records the vendor served on this page.
        duplicates: records dropped because an earlier page already yielded them.
        total: the vendor's count of matching records, when it says.
        seconds: time spent fetching and decoding the page.
    """

    number: int
    records: list[dict[str, Any]]
    served: int
    duplicates: int = 0
    total: int | None = None
    seconds: float = 0.0


class RecentKeys:
    """The most recent ``capacity`` keys seen (memory stays flat however long the listing).

    Offset paging repeats records when rows are inserted ahead of the reader; the repeats are
    always the tail of the pages just read, so a window of recent keys catches them.

    Args:
        capacity: how many keys to remember.
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._order: deque[Any] = deque()
        self._keys: set[Any] = set()

    def seen(self, key: Any) -> bool:
        """True when ``key`` was seen recently; otherwise remember it and return False."""
        if key in self._keys:
            return True
        self._keys.add(key)
        self._order.append(key)
        if len(self._order) > self._capacity:
            self._keys.discard(self._order.popleft())
        return False


class KantataPagination:
    """Kantata OX pages: ``page``/``per_page``, ``meta.page_count``, records by ``results``.

    Records come from the collection's id-keyed object in the order ``results`` lists them, as
    served. Offset pages shift when records are inserted while paging, so ids already yielded are
    dropped (within a window of ``dedupe_window`` recent ids).

    Args:
        per_page: page size (Kantata clamps it to 200 silently).
        dedupe_window: recent ids remembered for de-duplication.
    """

    def __init__(self, per_page: int = 200, dedupe_window: int = 10_000) -> None:
        if not 1 <= per_page <= 200:
            raise ValueError(f"per_page must be between 1 and 200, got {per_page}")
        self.per_page = per_page
        self.dedupe_window = dedupe_window

    def pages(self, fetch: Fetch, params: Mapping[str, Any]) -> Iterator[Page]:
        """Every page of the listing ``params`` selects, in order."""
        recent = RecentKeys(self.dedupe_window)
        number = 1
        while True:
            started = time.perf_counter()
            body = fetch({**params, "page": number, "per_page": self.per_page})
            records = kantata_records(body)
            fresh = [r for r in records if not recent.seen(str(r.get("id")))]
            meta = body.get("meta") or {}
            yield Page(
                number=number,
                records=fresh,
                served=len(records),
                duplicates=len(records) - len(fresh),
                total=meta.get("count", body.get("count")),
                seconds=time.perf_counter() - started,
            )
            # page_count is read again on every page: it grows when records are inserted.
            if not records or number >= int(meta.get("page_count") or 0):
                return
            number += 1


def kantata_records(body: Any) -> list[dict[str, Any]]:
    """The records a Kantata envelope's ``results`` points at, in its order."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise FatalAPIError("Kantata answered something that is not a list envelope (no results)")
    records = []
    for ref in body["results"]:
        try:
            records.append(body[ref["key"]][str(ref["id"])])
        except (KeyError, TypeError) as exc:
            raise FatalAPIError(
                "Kantata answered a 'results' entry that points at no object in the envelope"
            ) from exc
    return records


class NetSuiteOffsetPagination:
    """NetSuite collections and SuiteQL: ``limit``/``offset``, ``hasMore``, the ``next`` link.

    The next offset comes from the ``next`` link's ``offset`` (falling back to offset + count);
    requests always go to the hook's own base URL, so a proxy rewriting hosts does no harm. Each
    item's ``links`` is removed. With ``unique_key``, items whose key an earlier page already
    yielded are dropped (offsets shift when rows are inserted while paging); without it every
    row is kept (SuiteQL rows of a join legitimately repeat an id).

    Args:
        limit: page size (NetSuite allows 1..1000).
        unique_key: the item field that identifies a row, for de-duplication.
        dedupe_window: recent keys remembered for de-duplication.
    """

    def __init__(
        self, limit: int = 1000, unique_key: str | None = None, dedupe_window: int = 10_000
    ) -> None:
        if not 1 <= limit <= 1000:
            raise ValueError(f"limit must be between 1 and 1000, got {limit}")
        self.limit = limit
        self.unique_key = unique_key
        self.dedupe_window = dedupe_window

    def pages(self, fetch: Fetch, params: Mapping[str, Any]) -> Iterator[Page]:
        """Every page, in order."""
        recent = RecentKeys(self.dedupe_window)
        offset, number = 0, 1
        while True:
            started = time.perf_counter()
            body = fetch({**params, "limit": self.limit, "offset": offset})
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise FatalAPIError(
                    "NetSuite answered something that is not a collection (no items)"
                )
            items = [
                {k: v for k, v in item.items() if k != "links"}
                for item in body["items"]
                if isinstance(item, dict)
            ]
            fresh = items
            if self.unique_key is not None:
                key = self.unique_key
                fresh = [i for i in items if key not in i or not recent.seen(str(i[key]))]
            yield Page(
                number=number,
                records=fresh,
                served=len(items),
                duplicates=len(items) - len(fresh),
                total=body.get("totalResults"),
                seconds=time.perf_counter() - started,
            )
            if not body.get("hasMore"):
                return
            if not items:
                raise FatalAPIError("NetSuite answered hasMore on an empty page")
            offset = _next_offset(body, offset + len(items))
            number += 1


def _next_offset(body: dict[str, Any], fallback: int) -> int:
    for link in body.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            values = parse_qs(urlsplit(str(link["href"])).query).get("offset")
            if values and values[0].isdigit():
                return int(values[0])
    return fallback


# --- the client --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a connection and for each read of an answer."""

    connect: float = 10.0
    read: float = 60.0


@dataclass(frozen=True)
class ApiResponse:
    """A successful answer: status, headers and the decoded JSON body (None when empty)."""

    status: int
    headers: Mapping[str, str]
    body: Any


class ApiClient:
    """Requests to one vendor API with retries, classification, concurrency and safe logging.

    Nothing is opened until the first request: the ``requests.Session`` is created lazily.

    Args:
        system: the vendor system's name for messages (``Kantata``).
        conn_id: the Airflow connection the client was built from (named in auth errors).
        base_url: the API root; request paths are appended to it.
        auth: the auth strategy, applied to every attempt.
        error_parser: reads the vendor's error body.
        policy: the retry policy.
        timeouts: connect and read timeouts.
        auth_hint: what to check when the credentials are refused (ends the auth error).
        concurrency: a semaphore every attempt holds while in flight (vendor concurrency limit).
        pool_size: connections kept alive (at least the threads using the client).
        logger: where attempts are logged.
    """

    def __init__(
        self,
        *,
        system: str,
        conn_id: str,
        base_url: str,
        auth: AuthBase,
        error_parser: ErrorParser,
        policy: RetryPolicy,
        timeouts: Timeouts,
        auth_hint: str,
        concurrency: threading.Semaphore | None = None,
        pool_size: int = 10,
        logger: logging.Logger = log,
    ) -> None:
        self.system = system
        self.conn_id = conn_id
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.error_parser = error_parser
        self.policy = policy
        self.timeouts = timeouts
        self.auth_hint = auth_hint
        self.concurrency = concurrency
        self.pool_size = pool_size
        self.log = logger
        self._session: requests.Session | None = None
        self._session_lock = threading.Lock()

    @property
    def session(self) -> requests.Session:
        """The HTTP session, created on first use."""
        if self._session is None:
            with self._session_lock:
                if self._session is None:
                    session = requests.Session()
                    session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
                    session.auth = self.auth
                    adapter = HTTPAdapter(
                        pool_connections=1, pool_maxsize=max(self.pool_size, 1), max_retries=0
                    )
                    session.mount("https://", adapter)
                    session.mount("http://", adapter)
                    self._session = session
        return self._session

    def close(self) -> None:
        """Close the session's connections (a later request opens a new session)."""
        with self._session_lock:
            if self._session is not None:
                self._session.close()
                self._session = None

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` and return its decoded JSON body."""
        return self.request("GET", path, params=params).body

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        detail_in_message: bool | None = None,
    ) -> ApiResponse:
        """Send a request, retrying what the policy allows; return the successful answer.

        Args:
            method: HTTP method.
            path: path below the base URL (starting with ``/``).
            params: query parameters.
            json_body: the JSON body, if any.
            headers: extra headers.
            idempotent: whether repeating the request is harmless (default: by method; a POST
                that only reads, such as SuiteQL, passes True). A request that is not may be
                retried only when the vendor certainly did not process it.
            detail_in_message: put the vendor's error detail in a fatal error's message
                (default: only when the request has no body, since vendors echo the values of
                a refused body; a query's own errors are worth reading, so SuiteQL passes True).
                The detail is always on the error's ``detail`` attribute.

        Raises:
            RetryableAPIError: transient failures outlasted the policy.
            AuthenticationError: the credentials or their permissions were refused.
            NotFoundError: 404.
            FatalAPIError: any other failure retrying cannot fix.
            ConfigurationError: the base URL is not a usable URL.
        """
        method = method.upper()
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        url = self.base_url + path
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            retry_after: str | None = None
            try:
                with self._slot():
                    response = self.session.request(
                        method,
                        url,
                        params=params,
                        json=json_body,
                        headers=headers,
                        timeout=(self.timeouts.connect, self.timeouts.read),
                    )
            except requests.RequestException as exc:
                failure = self._transport_failure(exc, method, path, idempotent)
            else:
                if response.status_code < 300:
                    body, failure = self._decode(response, method, path, idempotent)
                    if failure is None:
                        self.log.debug(
                            "%s %s %s -> %s in %.3fs (attempt %d)",
                            self.system,
                            method,
                            path,
                            response.status_code,
                            time.perf_counter() - started,
                            attempt,
                        )
                        return ApiResponse(response.status_code, response.headers, body)
                else:
                    failure = self._status_failure(
                        response,
                        method,
                        path,
                        idempotent=idempotent,
                        detail_in_message=(
                            json_body is None if detail_in_message is None else detail_in_message
                        ),
                    )
                    retry_after = response.headers.get("Retry-After")
            self._give_up_or_wait(failure, attempt, retry_after)

    def _slot(self) -> AbstractContextManager[Any]:
        return self.concurrency if self.concurrency is not None else nullcontext()

    def _give_up_or_wait(self, failure: APIError, attempt: int, retry_after: str | None) -> None:
        """Raise ``failure`` when it is final; otherwise log and sleep before the next attempt."""
        context = (self.system, failure.method, failure.path, failure.outcome)
        if isinstance(failure, FatalAPIError):
            # A 404 is often the expected answer ("does this external id exist yet?").
            level = logging.DEBUG if isinstance(failure, NotFoundError) else logging.WARNING
            self.log.log(level, "%s %s %s failed: %s (not retried)", *context)
            raise failure
        wait = (
            self.policy.wait(attempt, retry_after) if attempt < self.policy.max_attempts else None
        )
        if wait is None:
            self.log.error(
                "%s %s %s failed: %s; giving up after attempt %d (Retry-After %s)",
                *context,
                attempt,
                retry_after,
            )
            raise RetryableAPIError(
                f"{failure} (gave up after {attempt} attempt{'s' if attempt > 1 else ''}"
                + (f"; the server asked to retry after {retry_after}" if retry_after else "")
                + ")",
                system=failure.system,
                method=failure.method,
                path=failure.path,
                status=failure.status,
                code=failure.code,
                detail=failure.detail,
                error_path=failure.error_path,
                transport=failure.transport,
            ) from failure
        self.log.warning(
            "%s %s %s failed: %s; attempt %d/%d, retrying in %.2fs",
            *context,
            attempt,
            self.policy.max_attempts,
            wait,
        )
        self.policy.sleep(wait)

    def _error(self, cls: type[APIError], message: str, **fields: Any) -> APIError:
        return cls(f"{self.system} {message}", system=self.system, **fields)

    def _decode(
        self, response: requests.Response, method: str, path: str, idempotent: bool
    ) -> tuple[Any, APIError | None]:
        if not response.content:
            return None, None
        try:
            return response.json(), None
        except ValueError:
            cls = RetryableAPIError if idempotent else FatalAPIError
            return None, self._error(
                cls,
                f"{method} {path} answered {response.status_code} with a body that is not JSON",
                method=method,
                path=path,
                status=response.status_code,
                transport=f"status {response.status_code} with a body that is not JSON",
            )

    def _status_failure(
        self,
        response: requests.Response,
        method: str,
        path: str,
        *,
        idempotent: bool,
        detail_in_message: bool,
    ) -> APIError:
        status = response.status_code
        try:
            vendor = self.error_parser(response.json())
        except ValueError:
            vendor = VendorError()
        fields = {
            "method": method,
            "path": path,
            "status": status,
            "code": vendor.code,
            "detail": vendor.detail,
            "error_path": vendor.path,
        }
        label = f"{status}" + (f" {vendor.code}" if vendor.code else "")
        if self.policy.retries_status(status, vendor.code, idempotent=idempotent):
            return self._error(RetryableAPIError, f"{method} {path} answered {label}", **fields)
        if status == 401:
            return self._error(
                AuthenticationError,
                f"rejected connection '{self.conn_id}' ({vendor.code or status}): {self.auth_hint}",
                **fields,
            )
        if status == 403:
            return self._error(
                AuthenticationError,
                f"refused {method} {path} for connection '{self.conn_id}' "
                f"({vendor.code or status}): the credentials lack permission; {self.auth_hint}",
                **fields,
            )
        cls = NotFoundError if status == 404 else FatalAPIError
        reason = f": {_shorten(vendor.detail)}" if vendor.detail and detail_in_message else ""
        return self._error(cls, f"{method} {path} answered {label}{reason}", **fields)

    def _transport_failure(
        self, exc: requests.RequestException, method: str, path: str, idempotent: bool
    ) -> APIError:
        kind = type(exc).__name__
        fields = {"method": method, "path": path, "transport": f"{kind} (no answer)"}
        if isinstance(
            exc,
            requests.exceptions.InvalidURL
            | requests.exceptions.MissingSchema
            | requests.exceptions.InvalidSchema,
        ):
            raise ConfigurationError(
                f"Connection '{self.conn_id}' ({self.system}): the base URL {self.base_url!r} "
                f"is not usable ({kind}); fix the connection's host"
            ) from exc
        transient = isinstance(
            exc,
            requests.ConnectionError
            | requests.Timeout
            | requests.exceptions.ChunkedEncodingError
            | requests.exceptions.ContentDecodingError,
        )
        if transient and (idempotent or _never_sent(exc)):
            return self._error(RetryableAPIError, f"{method} {path} failed: {kind}", **fields)
        if transient:
            return self._error(
                FatalAPIError,
                f"{method} {path} failed after it was sent ({kind}): its outcome is unknown "
                "and repeating it is not safe; reconcile before retrying",
                **fields,
            )
        return self._error(FatalAPIError, f"{method} {path} failed: {kind}", **fields)


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly never reached the server (no connection was made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    return isinstance(reason, MaxRetryError) and isinstance(reason.reason, NewConnectionError)


def _shorten(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- connection fields -------------------------------------------------------------------------


def base_url_of(host: str, port: int | None = None) -> str:
    """A connection's host as a URL: ``https://`` when no scheme, the port when given apart."""
    url = host.strip()
    if "://" not in url:
        url = f"https://{url}"
    parts = urlsplit(url)
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def lookup_connection(conn_id: str, fields: str) -> Any:
    """The Airflow connection ``conn_id``, or a ConfigurationError saying how to add it.

    Args:
        conn_id: the connection id.
        fields: what the connection holds, for the message (e.g. "host = the API base URL").
    """
    from airflow.sdk import BaseHook  # noqa: PLC0415 - keeps this module importable anywhere
    from airflow.sdk.exceptions import AirflowNotFoundException  # noqa: PLC0415

    try:
        return BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise ConfigurationError(
            f"Connection '{conn_id}' is not defined: add it ({fields}), e.g. through "
            f"AIRFLOW_CONN_{conn_id.upper()}"
        ) from exc


def require_extras(extra: Mapping[str, Any], conn_id: str, required: Mapping[str, str]) -> None:
    """Fail with what to set when a required ``extra`` key of the connection is empty."""
    for key, label in required.items():
        if not extra.get(key):
            raise ConfigurationError(
                f"Connection '{conn_id}' has no extra '{key}': set it to {label}"
            )


def connection_extra(conn: Any, conn_id: str) -> dict[str, Any]:
    """The connection's ``extra`` as a dict (ConfigurationError when it is not a JSON object)."""
    raw = conn.extra
    if not raw:
        return {}
    extra = conn.extra_dejson
    if not extra:
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise ConfigurationError(
                f"Connection '{conn_id}': the extra field is not a JSON object; "
                'set it to e.g. {"read_timeout": 60}'
            )
    return extra


def extra_number(
    extra: Mapping[str, Any],
    key: str,
    default: float,
    *,
    conn_id: str,
    integer: bool = False,
) -> Any:
    """A positive number from the connection's extra, or ``default`` when it is not set."""
    value = extra.get(key)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = 0.0
    if isinstance(value, bool) or number <= 0 or (integer and not number.is_integer()):
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigurationError(
            f"Connection '{conn_id}': extra '{key}' must be {kind}, got {value!r}"
        )
    return int(number) if integer else number


def timeouts_from_extra(
    extra: Mapping[str, Any], conn_id: str, default: Timeouts = Timeouts()
) -> Timeouts:
    """Timeouts from the extras ``connect_timeout`` and ``read_timeout`` (seconds)."""
    return Timeouts(
        connect=extra_number(extra, "connect_timeout", default.connect, conn_id=conn_id),
        read=extra_number(extra, "read_timeout", default.read, conn_id=conn_id),
    )


def policy_from_extra(extra: Mapping[str, Any], conn_id: str, default: RetryPolicy) -> RetryPolicy:
    """The policy with the extras ``max_attempts`` and ``backoff_cap`` applied."""
    return replace(
        default,
        max_attempts=extra_number(
            extra, "max_attempts", default.max_attempts, conn_id=conn_id, integer=True
        ),
        backoff_cap=extra_number(extra, "backoff_cap", default.backoff_cap, conn_id=conn_id),
    )
