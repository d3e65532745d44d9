"""Deterministic record ids: integer sequences below 10^8 and Salesforce-style 18-char ids."""

from __future__ import annotations

import string

ID_LIMIT = 100_000_000
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_CHECKSUM = string.ascii_uppercase + "012345"


class IdSeq:
    """A sequence of integer ids starting at ``start``.

    Args:
        start: the first id handed out.
    """

    def __init__(self, start: int) -> None:
        self._next = start

    def __call__(self) -> int:
        """The next id."""
        value = self._next
        if value >= ID_LIMIT:
            raise OverflowError(f"generated id {value} reached the service id range (10^8)")
        self._next += 1
        return value


def salesforce_id(key_prefix: str, n: int) -> str:
    """An 18-character Salesforce id: key prefix, pod, ``n`` in base 62, case-safe suffix.

    The three-character suffix is Salesforce's own checksum of the 15-character id (one bit per
    upper-case letter in each five-character chunk), so clients that validate ids accept them.
    """
    digits = ""
    while n:
        n, r = divmod(n, 62)
        digits = _BASE62[r] + digits
    id15 = f"{key_prefix}Dn0{digits.rjust(9, '0')}"
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, c in enumerate(chunk) if "A" <= c <= "Z")
        suffix += _CHECKSUM[bits]
    return id15 + suffix
