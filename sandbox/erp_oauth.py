"""OAuth 1.0a (RFC 5849) verification for the NetSuite sandbox: token-based authentication (TBA).

NetSuite signs REST requests with ``oauth_signature_method="HMAC-SHA256"`` and the account id as
``realm``. The verifier rebuilds the signature base string of RFC 5849 §3.4.1 from the request
as it arrived (method, base string URI, query, ``Authorization`` parameters and form-encoded
body), signs it with the consumer and token secrets, and compares in constant time. A request
is also refused when its timestamp is outside the allowed window or its nonce was seen before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

SIGNATURE_METHOD = "HMAC-SHA256"
# RFC 5849 §3.5.1: auth-param = token "=" quoted-string.
_AUTH_PARAM = re.compile(r'\s*([^\s=,]+)\s*=\s*"([^"]*)"\s*(?:,|$)')
_DEFAULT_PORTS = {"http": 80, "https": 443}


class OAuthError(Exception):
    """The request's OAuth credentials are missing, malformed or wrong (the reason, for logs)."""


def percent_encode(value: str) -> str:
    """RFC 5849 §3.6: UTF-8, then every byte but ``ALPHA DIGIT - . _ ~`` as ``%XX``."""
    return quote(value, safe="-._~")


def parse_authorization(header: str) -> dict[str, str]:
    """The parameters of an ``Authorization: OAuth ...`` header, percent-decoded.

    Raises:
        OAuthError: not an OAuth header, or a malformed or repeated parameter.
    """
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "oauth":
        raise OAuthError(f"authorization scheme {scheme!r} is not OAuth")
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _AUTH_PARAM.match(rest, position)
        if match is None:
            raise OAuthError("malformed OAuth header")
        name, value = unquote(match.group(1)), unquote(match.group(2))
        if name in params:
            raise OAuthError(f"repeated OAuth parameter {name}")
        params[name] = value
        position = match.end()
    return params


def base_string_uri(scheme: str, host: str, path: str) -> str:
    """RFC 5849 §3.4.1.2: lowercase scheme and host, the port only when not the default."""
    scheme = scheme.lower()
    host = host.lower()
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit() and int(port) == _DEFAULT_PORTS.get(scheme):
        host = name
    return f"{scheme}://{host}{path or '/'}"


def normalized_parameters(pairs: list[tuple[str, str]]) -> str:
    """RFC 5849 §3.4.1.3.2: encode names and values, sort, join with ``=`` and ``&``."""
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def signature_base_string(method: str, uri: str, pairs: list[tuple[str, str]]) -> str:
    """RFC 5849 §3.4.1.1: ``METHOD&encoded-uri&encoded-parameters``."""
    return "&".join(
        [method.upper(), percent_encode(uri), percent_encode(normalized_parameters(pairs))]
    )


def hmac_sha256_signature(base_string: str, consumer_secret: str, token_secret: str) -> str:
    """RFC 5849 §3.4.2 with SHA-256: base64 of HMAC(key = encoded secrets joined by ``&``)."""
    key = f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class NonceCache:
    """Nonces seen within the timestamp window, per consumer and token (replay protection)."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, str], float] = {}
        self._lock = threading.Lock()

    def check_and_add(self, key: tuple[str, str, str], now: float, retain_s: float) -> bool:
        """Remember ``key``; False when it was already seen (a replay)."""
        with self._lock:
            if len(self._seen) > 10_000:
                horizon = now - retain_s
                self._seen = {k: t for k, t in self._seen.items() if t >= horizon}
            seen_at = self._seen.get(key)
            if seen_at is not None and seen_at >= now - retain_s:
                return False
            self._seen[key] = now
            return True


@dataclass(frozen=True)
class TbaCredentials:
    """The integration (consumer) and access token of a NetSuite account."""

    account_id: str
    consumer_key: str
    consumer_secret: str
    token_id: str
    token_secret: str


@dataclass(frozen=True)
class SignedRequest:
    """What the verifier needs of a request, exactly as it arrived."""

    method: str
    scheme: str
    host: str
    raw_path: str
    query_string: str
    authorization: str | None
    content_type: str | None
    body: bytes


def verify(
    request: SignedRequest,
    credentials: TbaCredentials,
    nonces: NonceCache,
    window_s: float,
    now: float | None = None,
) -> None:
    """Check a TBA-signed request.

    Raises:
        OAuthError: with the reason, when the request must be refused with ``INVALID_LOGIN``.
    """
    if not request.authorization:
        raise OAuthError("no Authorization header")
    params = parse_authorization(request.authorization)
    if params.get("realm", "").upper() != credentials.account_id.upper():
        raise OAuthError("realm is not the account id")
    if params.get("oauth_signature_method") != SIGNATURE_METHOD:
        raise OAuthError("signature method is not HMAC-SHA256")
    if params.get("oauth_version", "1.0") != "1.0":
        raise OAuthError("oauth_version is not 1.0")
    for name in ("oauth_consumer_key", "oauth_token", "oauth_nonce", "oauth_timestamp"):
        if not params.get(name):
            raise OAuthError(f"missing {name}")
    # Unknown consumer or token: compare anyway so timing does not tell which part was wrong.
    key_ok = hmac.compare_digest(params["oauth_consumer_key"], credentials.consumer_key)
    token_ok = hmac.compare_digest(params["oauth_token"], credentials.token_id)
    pairs = [(k, v) for k, v in params.items() if k not in ("realm", "oauth_signature")]
    pairs += parse_qsl(request.query_string, keep_blank_values=True)
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded" and request.body:
        pairs += parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
    uri = base_string_uri(request.scheme, request.host, request.raw_path)
    expected = hmac_sha256_signature(
        signature_base_string(request.method, uri, pairs),
        credentials.consumer_secret,
        credentials.token_secret,
    )
    signature_ok = hmac.compare_digest(params.get("oauth_signature", ""), expected)
    if not (key_ok and token_ok and signature_ok):
        raise OAuthError("consumer, token or signature does not match")
    now = time.time() if now is None else now
    try:
        timestamp = int(params["oauth_timestamp"])
    except ValueError as exc:
        raise OAuthError("oauth_timestamp is not an integer") from exc
    if abs(now - timestamp) > window_s:
        raise OAuthError("oauth_timestamp outside the allowed window")
    nonce_key = (params["oauth_consumer_key"], params["oauth_token"], params["oauth_nonce"])
    if not nonces.check_and_add(nonce_key, now, retain_s=2 * window_s):
        raise OAuthError("nonce already used")
