"""SuiteQL and record-collection ``q`` filters for the NetSuite sandbox, run on PostgreSQL.

Both query languages are parsed into one small condition tree and compiled to a PostgreSQL
``WHERE`` clause over the JSON records (``record.data``). Everything that comes from the client
is a bound parameter; the SQL text holds only this module's fixed fragments and its own field
names (a field found only in the data is bound too).

SuiteQL subset::

    SELECT * | COUNT(*) [AS a] | item [[AS] a], ...
    FROM <table> [alias]
    [WHERE cond]
    [ORDER BY col|alias [ASC|DESC], ...]

    item: col | BUILTIN.DF(col) | TO_CHAR(col, 'fmt')
    cond: cond AND|OR cond | NOT cond | ( cond ) | col =|<>|!=|<|<=|>|>= lit
          | col [NOT] IN (lit, ...) | col IS [NOT] NULL | col [NOT] LIKE 'pattern'
          | col [NOT] BETWEEN lit AND lit
    lit:  'text' | 123.4 | ? (from "params") | TO_DATE('...', 'fmt') | TO_TIMESTAMP('...', 'fmt')

Tables are the REST record types, lowercase (``timebill``, ``accountingperiod``), plus
``transaction`` over the posting transaction types with its ``type`` code (``Journal``,
``CustInvc``, ...) and ``recordtype``. Columns are the record's REST fields, case-insensitive;
a reference column yields the referenced id, a boolean ``T``/``F``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any


class QueryError(Exception):
    """The query cannot be parsed or names an unknown table or field (the detail says which)."""


class Kind(StrEnum):
    """How a field is stored and compared."""

    ID = "id"
    TEXT = "text"
    NUMBER = "number"
    BOOL = "bool"
    DATE = "date"
    DATETIME = "datetime"
    REF = "ref"
    DURATION = "duration"
    TRANTYPE = "trantype"
    RECORDTYPE = "recordtype"


K = Kind
_COMMON: dict[str, Kind] = {
    "id": K.ID,
    "externalId": K.TEXT,
    "lastModifiedDate": K.DATETIME,
    "createdDate": K.DATETIME,
}
_NAMED: dict[str, Kind] = {
    "name": K.TEXT,
    "parent": K.REF,
    "subsidiary": K.REF,
    "isInactive": K.BOOL,
}
_TRANSACTION: dict[str, Kind] = {
    "tranId": K.TEXT,
    "tranDate": K.DATE,
    "postingPeriod": K.REF,
    "subsidiary": K.REF,
    "currency": K.REF,
    "memo": K.TEXT,
    "status": K.REF,
    "department": K.REF,
    "class": K.REF,
    "location": K.REF,
    "exchangeRate": K.NUMBER,
    "total": K.NUMBER,
}
# The fields SuiteQL knows per record type (REST field names). Fields outside these lists are
# still found when records carry them (see NetSuiteVendor's column resolver).
FIELDS: dict[str, dict[str, Kind]] = {
    "subsidiary": {
        **_NAMED,
        "legalName": K.TEXT,
        "currency": K.REF,
        "country": K.REF,
        "isElimination": K.BOOL,
    },
    "account": {
        **_NAMED,
        "acctNumber": K.TEXT,
        "acctName": K.TEXT,
        "acctType": K.REF,
        "description": K.TEXT,
        "currency": K.REF,
        "generalRate": K.REF,
    },
    "currency": {
        "name": K.TEXT,
        "symbol": K.TEXT,
        "isBaseCurrency": K.BOOL,
        "exchangeRate": K.NUMBER,
        "isInactive": K.BOOL,
    },
    "department": dict(_NAMED),
    "classification": dict(_NAMED),
    "location": dict(_NAMED),
    "item": {
        **_NAMED,
        "itemId": K.TEXT,
        "displayName": K.TEXT,
        "description": K.TEXT,
        "itemType": K.REF,
        "basePrice": K.NUMBER,
        "cost": K.NUMBER,
        "incomeAccount": K.REF,
        "expenseAccount": K.REF,
    },
    "expenseCategory": {
        **_NAMED,
        "description": K.TEXT,
        "expenseAcct": K.REF,
        "rate": K.NUMBER,
    },
    "customer": {
        "entityId": K.TEXT,
        "companyName": K.TEXT,
        "isPerson": K.BOOL,
        "firstName": K.TEXT,
        "lastName": K.TEXT,
        "email": K.TEXT,
        "phone": K.TEXT,
        "subsidiary": K.REF,
        "currency": K.REF,
        "terms": K.REF,
        "parent": K.REF,
        "entityStatus": K.REF,
        "category": K.REF,
        "isInactive": K.BOOL,
        "dateCreated": K.DATETIME,
    },
    "job": {
        "entityId": K.TEXT,
        "companyName": K.TEXT,
        "altName": K.TEXT,
        "parent": K.REF,
        "entityStatus": K.REF,
        "startDate": K.DATE,
        "endDate": K.DATE,
        "projectedEndDate": K.DATE,
        "jobBillingType": K.REF,
        "jobPrice": K.NUMBER,
        "projectManager": K.REF,
        "subsidiary": K.REF,
        "currency": K.REF,
        "allowTime": K.BOOL,
        "allowExpenses": K.BOOL,
        "timeApproval": K.REF,
        "isInactive": K.BOOL,
        "dateCreated": K.DATETIME,
    },
    "employee": {
        "entityId": K.TEXT,
        "firstName": K.TEXT,
        "lastName": K.TEXT,
        "email": K.TEXT,
        "title": K.TEXT,
        "subsidiary": K.REF,
        "department": K.REF,
        "class": K.REF,
        "location": K.REF,
        "currency": K.REF,
        "supervisor": K.REF,
        "hireDate": K.DATE,
        "releasedate": K.DATE,
        "laborCost": K.NUMBER,
        "rate": K.NUMBER,
        "isJobResource": K.BOOL,
        "isInactive": K.BOOL,
    },
    "timeBill": {
        "tranDate": K.DATE,
        "employee": K.REF,
        "customer": K.REF,
        "hours": K.DURATION,
        "rate": K.NUMBER,
        "isBillable": K.BOOL,
        "memo": K.TEXT,
        "approvalStatus": K.REF,
        "item": K.REF,
        "subsidiary": K.REF,
        "department": K.REF,
        "class": K.REF,
        "location": K.REF,
        "timeType": K.REF,
        "posted": K.BOOL,
    },
    "expenseReport": {
        **_TRANSACTION,
        "entity": K.REF,
        "amount": K.NUMBER,
        "approvalStatus": K.REF,
        "accountingApproval": K.BOOL,
        "supervisorApproval": K.BOOL,
        "complete": K.BOOL,
    },
    "journalEntry": {
        **_TRANSACTION,
        "approved": K.BOOL,
        "approvalStatus": K.REF,
        "isReversal": K.BOOL,
        "reversalDate": K.DATE,
    },
    "invoice": {
        **_TRANSACTION,
        "entity": K.REF,
        "job": K.REF,
        "dueDate": K.DATE,
        "amountRemaining": K.NUMBER,
        "amountPaid": K.NUMBER,
        "subtotal": K.NUMBER,
        "terms": K.REF,
        "account": K.REF,
        "otherRefNum": K.TEXT,
    },
    "customerPayment": {
        **_TRANSACTION,
        "customer": K.REF,
        "payment": K.NUMBER,
        "account": K.REF,
        "arAcct": K.REF,
    },
    "creditMemo": {
        **_TRANSACTION,
        "entity": K.REF,
        "createdFrom": K.REF,
        "amountRemaining": K.NUMBER,
    },
    "accountingPeriod": {
        "periodName": K.TEXT,
        "startDate": K.DATE,
        "endDate": K.DATE,
        "closed": K.BOOL,
        "allLocked": K.BOOL,
        "apLocked": K.BOOL,
        "arLocked": K.BOOL,
        "isAdjust": K.BOOL,
        "isQuarter": K.BOOL,
        "isYear": K.BOOL,
        "isPosting": K.BOOL,
        "isInactive": K.BOOL,
        "parent": K.REF,
        "fiscalCalendar": K.REF,
    },
}
RECORD_TYPES: tuple[str, ...] = tuple(FIELDS)
# SuiteQL's `transaction` table: record type → transaction type code.
TRANSACTION_TYPES: dict[str, str] = {
    "journalEntry": "Journal",
    "invoice": "CustInvc",
    "expenseReport": "ExpRept",
    "customerPayment": "CustPymt",
    "creditMemo": "CustCred",
}
MAX_DEPTH = 50
# Field names written in this module (letters only), the only ones ever inlined into SQL.
_VETTED_KEYS = frozenset(
    k for k in {*_COMMON, *(k for f in FIELDS.values() for k in f)} if k.isalpha()
)


@dataclass(frozen=True)
class Column:
    """A queryable field: its JSON key in ``record.data`` and how it is stored."""

    key: str
    kind: Kind


def resolve_table(name: str) -> tuple[str, ...]:
    """The record types behind a SuiteQL table name (case-insensitive)."""
    lowered = name.lower()
    if lowered == "transaction":
        return tuple(TRANSACTION_TYPES)
    for rtype in RECORD_TYPES:
        if rtype.lower() == lowered:
            return (rtype,)
    raise QueryError(f"Search error occurred: Record '{name}' was not found.")


def static_column(types: tuple[str, ...], name: str) -> Column | None:
    """The column ``name`` (case-insensitive) of a table from the static field lists."""
    lowered = name.lower()
    if len(types) > 1 and lowered in ("type", "recordtype"):
        return Column("", K.TRANTYPE if lowered == "type" else K.RECORDTYPE)
    for rtype in types:
        for key, kind in {**_COMMON, **FIELDS[rtype]}.items():
            if key.lower() == lowered:
                return Column(key, kind)
    return None


def infer_kind(value: Any) -> Kind:
    """The kind of a field seen only in the data (no static entry)."""
    if isinstance(value, dict):
        return K.REF
    if isinstance(value, bool):
        return K.BOOL
    if isinstance(value, int | float):
        return K.NUMBER
    return K.TEXT


# --- literals --------------------------------------------------------------------------------

_ORACLE_FORMAT = re.compile(r'YYYY|YY|MM|MON|DD|HH24|HH12|HH|MI|SS|AM|PM|"[^"]*"|.', re.I)
_STRFTIME = {
    "YYYY": "%Y",
    "YY": "%y",
    "MM": "%m",
    "MON": "%b",
    "DD": "%d",
    "HH24": "%H",
    "HH12": "%I",
    "HH": "%I",
    "MI": "%M",
    "SS": "%S",
    "AM": "%p",
    "PM": "%p",
}


def oracle_to_strftime(fmt: str) -> str:
    """An Oracle datetime format (``YYYY-MM-DD HH24:MI:SS``) as a ``strftime`` format."""
    out = []
    for token in _ORACLE_FORMAT.findall(fmt):
        upper = token.upper()
        if upper in _STRFTIME:
            out.append(_STRFTIME[upper])
        elif token.startswith('"'):
            out.append(token[1:-1].replace("%", "%%"))
        elif token.isalnum():
            raise QueryError(f"Search error occurred: Invalid date format '{fmt}'.")
        else:
            out.append(token.replace("%", "%%"))
    return "".join(out)


def parse_date_text(text: str) -> date | datetime:
    """A date or datetime written as ISO 8601 or NetSuite's ``M/D/YYYY``.

    Raises:
        QueryError: not a date.
    """
    value = text.strip()
    try:
        if "/" in value:
            return datetime.strptime(value, "%m/%d/%Y").date()
        if len(value) == 10:
            return date.fromisoformat(value)
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise QueryError(f"Search error occurred: Invalid date value '{text}'.") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Literal:
    """A constant in a condition: ``str``, ``Decimal``, ``date`` or aware ``datetime``."""

    value: Any


# --- condition tree --------------------------------------------------------------------------


@dataclass(frozen=True)
class Compare:
    """``column op literal``."""

    column: str
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    """``column [NOT] IN (literal, ...)``."""

    column: str
    values: tuple[Literal, ...]
    negate: bool = False


@dataclass(frozen=True)
class IsNull:
    """``column IS [NOT] NULL`` (an empty string is null, as in NetSuite)."""

    column: str
    negate: bool = False


@dataclass(frozen=True)
class Like:
    """``column [NOT] LIKE pattern``."""

    column: str
    pattern: str
    negate: bool = False


@dataclass(frozen=True)
class BoolOp:
    """``AND`` / ``OR`` of conditions."""

    op: str
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """``NOT condition``."""

    part: Condition


Condition = Compare | InList | IsNull | Like | BoolOp | Not


@dataclass(frozen=True)
class SelectItem:
    """One output column: a field, ``BUILTIN.DF(field)``, ``TO_CHAR(field, fmt)`` or COUNT(*)."""

    column: str | None
    key: str
    function: str | None = None
    argument: str | None = None


@dataclass
class Query:
    """A parsed SuiteQL ``SELECT``."""

    table: str
    types: tuple[str, ...]
    items: list[SelectItem] | None
    where: Condition | None = None
    order: list[tuple[str, bool]] = field(default_factory=list)
    count: bool = False


# --- SuiteQL parser --------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<number>\d+(?:\.\d+)?)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_$#]*(?:\.[A-Za-z_][A-Za-z0-9_$#]*)?)
    | (?P<op><>|!=|<=|>=|=|<|>)
    | (?P<punct>[(),*?-])
    )""",
    re.X,
)
_COMPARE_OPS = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_KEYWORDS = {"FROM", "WHERE", "ORDER", "BY", "AND", "OR", "NOT", "ASC", "DESC", "AS", "IN", "IS"}


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip().rstrip(";")
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            near = text[position:][:20]
            raise QueryError(f"Search error occurred: Invalid or unsupported search near '{near}'.")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, params: list[Any]) -> None:
        self.tokens = _tokenize(text)
        self.position = 0
        self.params = list(params)
        self.depth = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def next(self) -> tuple[str, str]:
        token = self.peek()
        self.position += 1
        return token

    def accept(self, *words: str) -> bool:
        kind, value = self.peek()
        if kind in ("ident", "punct", "op") and value.upper() in words:
            self.position += 1
            return True
        return False

    def expect(self, word: str) -> None:
        if not self.accept(word):
            raise self.error(f"expected {word}")

    def error(self, reason: str) -> QueryError:
        near = self.peek()[1] or "end of query"
        return QueryError(
            f"Search error occurred: Invalid or unsupported search ({reason} near '{near}')."
        )

    def identifier(self) -> str:
        kind, value = self.next()
        if kind != "ident" or value.upper() in _KEYWORDS:
            self.position -= 1
            raise self.error("expected a field name")
        return value

    # SELECT ... FROM ... WHERE ... ORDER BY ...
    def query(self) -> Query:
        self.expect("SELECT")
        items, count = self.select_list()
        self.expect("FROM")
        table = self.identifier()
        alias = None
        if self.peek()[0] == "ident" and self.peek()[1].upper() not in _KEYWORDS:
            alias = self.identifier()
        query = Query(table=table, types=resolve_table(table), items=items, count=count)
        prefixes = {table.lower(), *([alias.lower()] if alias else [])}
        if self.accept("WHERE"):
            query.where = self.condition()
        if self.accept("ORDER"):
            self.expect("BY")
            while True:
                name = self.identifier()
                descending = self.accept("DESC")
                if not descending:
                    self.accept("ASC")
                query.order.append((name, descending))
                if not self.accept(","):
                    break
        if self.peek()[0] != "end":
            raise self.error("unexpected text")
        _strip_prefixes(query, prefixes)
        return query

    def select_list(self) -> tuple[list[SelectItem] | None, bool]:
        if self.accept("*"):
            return None, False
        items: list[SelectItem] = []
        count = False
        while True:
            kind, value = self.peek()
            upper = value.upper()
            if kind == "ident" and upper == "COUNT" and self.peek(1)[1] == "(":
                self.position += 2
                self.expect("*")
                self.expect(")")
                item = SelectItem(None, "", "count")
                count = True
            elif kind == "ident" and upper in ("BUILTIN.DF", "TO_CHAR") and self.peek(1)[1] == "(":
                self.position += 2
                column = self.identifier()
                argument = None
                if upper == "TO_CHAR":
                    self.expect(",")
                    argument = self.string()
                    oracle_to_strftime(argument)
                self.expect(")")
                item = SelectItem(column, "", upper.lower(), argument)
            else:
                name = self.identifier()
                item = SelectItem(name, name.rsplit(".", 1)[-1].lower())
            alias_follows = self.peek()[0] == "ident" and self.peek()[1].upper() not in _KEYWORDS
            if self.accept("AS") or alias_follows:
                item = SelectItem(item.column, self.identifier().lower(), *_fn(item))
            items.append(item)
            if not self.accept(","):
                break
        if count and len(items) > 1:
            raise self.error("COUNT(*) with other columns needs GROUP BY, which is not supported")
        for number, item in enumerate(items, 1):
            if not item.key:
                items[number - 1] = SelectItem(item.column, f"expr{number}", *_fn(item))
        return items, count

    def string(self) -> str:
        kind, value = self.next()
        if kind == "string":
            return value[1:-1].replace("''", "'")
        if kind == "punct" and value == "?":
            return str(self.bound())
        self.position -= 1
        raise self.error("expected a quoted string")

    def bound(self) -> Any:
        if not self.params:
            raise QueryError("Search error occurred: Not enough values for the ? parameters.")
        return self.params.pop(0)

    def condition(self) -> Condition:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("condition nested too deeply")
        parts = [self.conjunction()]
        while self.accept("OR"):
            parts.append(self.conjunction())
        self.depth -= 1
        return parts[0] if len(parts) == 1 else BoolOp("OR", tuple(parts))

    def conjunction(self) -> Condition:
        parts = [self.factor()]
        while self.accept("AND"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else BoolOp("AND", tuple(parts))

    def factor(self) -> Condition:
        if self.accept("NOT"):
            return Not(self.factor())
        if self.accept("("):
            inner = self.condition()
            self.expect(")")
            return inner
        return self.predicate()

    def predicate(self) -> Condition:
        column = self.identifier()
        kind, value = self.peek()
        if kind == "op":
            self.position += 1
            return Compare(column, _COMPARE_OPS[value], self.literal())
        if self.accept("IS"):
            negate = self.accept("NOT")
            self.expect("NULL")
            return IsNull(column, negate)
        negate = self.accept("NOT")
        if self.accept("IN"):
            self.expect("(")
            values = [self.literal()]
            while self.accept(","):
                values.append(self.literal())
            self.expect(")")
            return InList(column, tuple(values), negate)
        if self.accept("LIKE"):
            return Like(column, self.string(), negate)
        if self.accept("BETWEEN"):
            low = self.literal()
            self.expect("AND")
            between = BoolOp(
                "AND", (Compare(column, ">=", low), Compare(column, "<=", self.literal()))
            )
            return Not(between) if negate else between
        raise self.error("expected a comparison")

    def literal(self) -> Literal:
        kind, value = self.next()
        if kind == "string":
            return Literal(value[1:-1].replace("''", "'"))
        if kind == "number":
            return Literal(Decimal(value))
        if kind == "punct" and value == "-" and self.peek()[0] == "number":
            return Literal(-Decimal(self.next()[1]))
        if kind == "punct" and value == "?":
            bound = self.bound()
            if isinstance(bound, bool) or not isinstance(bound, int | float | str):
                raise QueryError("Search error occurred: Unsupported parameter value.")
            return Literal(bound if isinstance(bound, str) else Decimal(str(bound)))
        if kind == "ident" and value.upper() in ("TO_DATE", "TO_TIMESTAMP"):
            self.expect("(")
            text = self.string()
            fmt = self.string() if self.accept(",") else None
            self.expect(")")
            return Literal(_to_date(text, fmt, timestamp=value.upper() == "TO_TIMESTAMP"))
        self.position -= 1
        raise self.error("expected a value")


def _fn(item: SelectItem) -> tuple[str | None, str | None]:
    return item.function, item.argument


def _to_date(text: str, fmt: str | None, *, timestamp: bool) -> date | datetime:
    if fmt is None:
        return parse_date_text(text)
    try:
        parsed = datetime.strptime(text, oracle_to_strftime(fmt))
    except ValueError as exc:
        raise QueryError(
            f"Search error occurred: '{text}' does not match the format '{fmt}'."
        ) from exc
    if not timestamp and parsed.time() == time(0):
        return parsed.date()
    return parsed.replace(tzinfo=UTC)


def _strip_prefixes(query: Query, prefixes: set[str]) -> None:
    """Drop ``table.`` / ``alias.`` from column names (one table, so they are redundant)."""

    def strip(name: str | None) -> str | None:
        if name is None or "." not in name:
            return name
        prefix, _, column = name.partition(".")
        if prefix.lower() not in prefixes:
            raise QueryError(f"Search error occurred: Unknown identifier '{prefix}'.")
        return column

    def walk(node: Condition) -> Condition:
        if isinstance(node, BoolOp):
            return BoolOp(node.op, tuple(walk(p) for p in node.parts))
        if isinstance(node, Not):
            return Not(walk(node.part))
        return replace(node, column=strip(node.column))

    if query.items is not None:
        query.items = [
            SelectItem(strip(i.column), i.key, i.function, i.argument) for i in query.items
        ]
    if query.where is not None:
        query.where = walk(query.where)
    query.order = [(strip(name) or name, desc) for name, desc in query.order]


def parse_suiteql(text: str, params: list[Any] | None = None) -> Query:
    """Parse one SuiteQL ``SELECT``.

    Raises:
        QueryError: syntax outside the supported subset, or an unknown table.
    """
    if not text or not text.strip():
        raise QueryError("Search error occurred: The query is empty.")
    return _Parser(text, params or []).query()


# --- record collection `q` -------------------------------------------------------------------

_Q_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<punct>[()])|(?P<word>[^\s()"]+))')
_Q_VALUELESS = {"EMPTY", "EMPTY_NOT"}
_Q_OPERATORS = {
    "IS",
    "IS_NOT",
    "EQUAL",
    "EQUAL_NOT",
    "GREATER",
    "GREATER_OR_EQUAL",
    "LESS",
    "LESS_OR_EQUAL",
    "START_WITH",
    "START_WITH_NOT",
    "END_WITH",
    "END_WITH_NOT",
    "CONTAIN",
    "CONTAIN_NOT",
    "AFTER",
    "AFTER_NOT",
    "BEFORE",
    "BEFORE_NOT",
    "ON",
    "ON_NOT",
    "ON_OR_AFTER",
    "ON_OR_AFTER_NOT",
    "ON_OR_BEFORE",
    "ON_OR_BEFORE_NOT",
    *_Q_VALUELESS,
}
_Q_COMPARE = {
    "IS": "=",
    "EQUAL": "=",
    "GREATER": ">",
    "GREATER_OR_EQUAL": ">=",
    "LESS": "<",
    "LESS_OR_EQUAL": "<=",
    "AFTER": ">",
    "BEFORE": "<",
    "ON": "=",
    "ON_OR_AFTER": ">=",
    "ON_OR_BEFORE": "<=",
}


def parse_q(text: str, kind_of: Callable[[str], Kind]) -> Condition:
    """Parse a record-collection filter (``lastModifiedDate ON_OR_AFTER "10/1/2026"``).

    ``kind_of`` gives a field's kind, so that a date-only value on a date-time field compares
    whole days (``ON`` = that day, ``AFTER`` = from the next day).

    Raises:
        QueryError: malformed filter or unknown operator.
    """
    return _QParser(text, kind_of).parse()


class _QParser:
    def __init__(self, text: str, kind_of: Callable[[str], Kind]) -> None:
        self.kind_of = kind_of
        self.tokens: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            match = _Q_TOKEN.match(text, position)
            if match is None or match.end() == position:
                break
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind)))
            position = match.end()
        if text[position:].strip():
            raise QueryError(f"Invalid query near '{text[position:][:20]}'.")
        self.index = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.index] if self.index < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.index += 1
        return token

    def parse(self) -> Condition:
        condition = self.expression(0)
        if self.peek()[0] != "end":
            raise QueryError(f"Invalid query near '{self.peek()[1]}'.")
        return condition

    def expression(self, depth: int) -> Condition:
        if depth > MAX_DEPTH:
            raise QueryError("Invalid query: nested too deeply.")
        groups: list[list[Condition]] = [[self.term(depth)]]
        while self.peek()[0] == "word" and self.peek()[1].upper() in ("AND", "OR"):
            # AND binds tighter than OR.
            if self.take()[1].upper() == "AND":
                groups[-1].append(self.term(depth))
            else:
                groups.append([self.term(depth)])
        ands = [g[0] if len(g) == 1 else BoolOp("AND", tuple(g)) for g in groups]
        return ands[0] if len(ands) == 1 else BoolOp("OR", tuple(ands))

    def term(self, depth: int) -> Condition:
        if self.peek() == ("punct", "("):
            self.take()
            inner = self.expression(depth + 1)
            if self.take() != ("punct", ")"):
                raise QueryError("Invalid query: missing ')'.")
            return inner
        kind, name = self.take()
        if kind != "word":
            raise QueryError("Invalid query: expected a field name.")
        kind, operator = self.take()
        operator = operator.upper()
        if kind != "word" or operator not in _Q_OPERATORS:
            raise QueryError(f"Invalid query: unknown operator '{operator}'.")
        if operator in _Q_VALUELESS:
            return IsNull(name, negate=operator == "EMPTY_NOT")
        kind, raw = self.take()
        if kind == "string":
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif kind != "word":
            raise QueryError(f"Invalid query: expected a value after {operator}.")
        return _q_predicate(name, operator, raw, self.kind_of(name))


def _q_predicate(name: str, operator: str, raw: str, kind: Kind) -> Condition:
    negate = operator.endswith("_NOT") and operator != "IS_NOT"
    base = operator.removesuffix("_NOT") if negate else operator
    condition: Condition
    if operator == "IS_NOT":
        condition = Compare(name, "<>", Literal(raw))
    elif base in ("START_WITH", "END_WITH", "CONTAIN"):
        escaped = raw.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = {
            "START_WITH": f"{escaped}%",
            "END_WITH": f"%{escaped}",
            "CONTAIN": f"%{escaped}%",
        }[base]
        condition = Like(name, pattern)
    elif base in ("AFTER", "BEFORE", "ON", "ON_OR_AFTER", "ON_OR_BEFORE"):
        value = parse_date_text(raw)
        if kind == K.DATETIME and not isinstance(value, datetime):
            condition = _day_range(name, base, value)
        else:
            condition = Compare(name, _Q_COMPARE[base], Literal(value))
    else:
        literal = Literal(Decimal(raw) if _is_number(raw) and base != "IS" else raw)
        condition = Compare(name, _Q_COMPARE[base], literal)
    return Not(condition) if negate else condition


def _day_range(name: str, operator: str, day: date) -> Condition:
    start = datetime.combine(day, time(0), UTC)
    end = start + timedelta(days=1)
    if operator == "ON":
        return BoolOp(
            "AND", (Compare(name, ">=", Literal(start)), Compare(name, "<", Literal(end)))
        )
    return {
        "AFTER": Compare(name, ">=", Literal(end)),
        "ON_OR_AFTER": Compare(name, ">=", Literal(start)),
        "BEFORE": Compare(name, "<", Literal(start)),
        "ON_OR_BEFORE": Compare(name, "<", Literal(end)),
    }[operator]


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return text.strip().lower() not in ("nan", "inf", "-inf", "infinity")


# --- compilation to PostgreSQL ---------------------------------------------------------------


def _coerce(kind: Kind, value: Any) -> tuple[Any, str] | None:
    """A literal in the type of a typed column; None for text columns."""
    if kind in (K.ID, K.REF, K.NUMBER, K.DURATION):
        if isinstance(value, date):
            raise QueryError("a date is not a number")
        return Decimal(str(value).strip()), "numeric"
    if kind == K.BOOL:
        text = str(value).strip().lower()
        if text not in ("t", "f", "true", "false"):
            raise QueryError("not a boolean")
        return text in ("t", "true"), "boolean"
    if kind not in (K.DATE, K.DATETIME):
        return None
    parsed = parse_date_text(value) if isinstance(value, str) else value
    if not isinstance(parsed, date):
        raise QueryError("not a date")
    if kind == K.DATE:
        return (parsed.astimezone(UTC).date() if isinstance(parsed, datetime) else parsed), "date"
    if not isinstance(parsed, datetime):
        parsed = datetime.combine(parsed, time(0), UTC)
    return parsed, "timestamptz"


class Compiler:
    """Compiles conditions and orderings to SQL over ``record r``, collecting bound parameters.

    Args:
        resolve: column name → :class:`Column`; raises :class:`QueryError` when unknown.
    """

    def __init__(self, resolve: Callable[[str], Column]) -> None:
        self.resolve = resolve
        self.params: list[Any] = []

    def bind(self, value: Any) -> str:
        """Add a parameter; returns its placeholder."""
        self.params.append(value)
        return "%s"

    def text_expr(self, column: Column) -> str:
        """The column as text (what ``LIKE`` and ``IS NULL`` see)."""
        if column.kind == K.ID:
            return "r.id::text"
        if column.kind == K.TRANTYPE:
            cases = " ".join(
                f"WHEN {self.bind(t)} THEN {self.bind(c)}" for t, c in TRANSACTION_TYPES.items()
            )
            return f"(CASE r.type {cases} END)"
        if column.kind == K.RECORDTYPE:
            return "lower(r.type)"
        if column.kind == K.REF:
            return f"(r.data -> {self.key_sql(column.key)} ->> 'id')"
        return f"(r.data ->> {self.key_sql(column.key)})"

    def key_sql(self, key: str) -> str:
        """A JSON key: inline when it is one of this module's field names, so expression
        indexes match; bound otherwise (keys found in the data)."""
        return f"'{key}'" if key in _VETTED_KEYS else self.bind(key)

    def typed_expr(self, column: Column) -> str:
        """The column in its own type (for comparisons and ordering)."""
        kind = column.kind
        if kind == K.ID:
            return "r.id"
        if kind == K.DATETIME and column.key == "lastModifiedDate":
            # updated_at mirrors lastModifiedDate and is indexed.
            return "r.updated_at"
        function = {
            K.REF: "erp_num",
            K.NUMBER: "erp_num",
            K.DURATION: "erp_hours",
            K.BOOL: "erp_bool",
            K.DATE: "erp_date",
            K.DATETIME: "erp_ts",
        }.get(kind)
        return f"{function}({self.text_expr(column)})" if function else self.text_expr(column)

    def coerce(self, column: Column, literal: Literal) -> tuple[Any, str]:
        """The literal converted to the column's type, with its SQL type name."""
        value = literal.value
        try:
            converted = _coerce(column.kind, value)
        except (QueryError, InvalidOperation, ValueError) as exc:
            raise QueryError(
                f"Search error occurred: Invalid value '{value}' for field '{column.key}'."
            ) from exc
        if converted is not None:
            return converted
        if isinstance(value, datetime):
            return value.isoformat(), "text"
        return (value if isinstance(value, str) else str(value)), "text"

    def condition(self, node: Condition) -> str:
        """SQL for a condition tree."""
        if isinstance(node, BoolOp):
            joiner = f" {node.op} "
            return "(" + joiner.join(self.condition(p) for p in node.parts) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.condition(node.part)})"
        column = self.resolve(node.column)
        if isinstance(node, IsNull):
            sql = f"(NULLIF({self.text_expr(column)}, '') IS NULL)"
            return f"(NOT {sql})" if node.negate else sql
        if isinstance(node, Like):
            sql = f"({self.text_expr(column)} LIKE {self.bind(node.pattern)})"
            return f"(NOT coalesce({sql}, false))" if node.negate else sql
        if isinstance(node, InList):
            coerced = [self.coerce(column, v) for v in node.values]
            array_type = coerced[0][1]
            expr = self.typed_expr(column) if array_type != "text" else self.text_expr(column)
            values = [v for v, _ in coerced]
            sql = f"({expr} = ANY({self.bind(values)}::{array_type}[]))"
            return f"(NOT coalesce({sql}, false))" if node.negate else sql
        value, value_type = self.coerce(column, node.value)
        expr = self.typed_expr(column) if value_type != "text" else self.text_expr(column)
        return f"({expr} {node.op} {self.bind(value)}::{value_type})"

    def order_by(self, order: list[tuple[Column, bool]], *, by_type: bool) -> str:
        """``ORDER BY`` list, always ending in the internal id (and type) so pages are stable."""
        parts = [f"{self.typed_expr(c)} {'DESC' if d else 'ASC'}" for c, d in order]
        return ", ".join([*parts, "r.id ASC", *(["r.type ASC"] if by_type else [])])


# --- output ----------------------------------------------------------------------------------


def _number_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def hours_value(raw: Any) -> Decimal | None:
    """``"1:30"`` or ``1.5`` as decimal hours."""
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    try:
        if ":" in text:
            hours, _, minutes = text.partition(":")
            return Decimal(hours or "0") + Decimal(minutes or "0") / 60
        return Decimal(text)
    except InvalidOperation:
        return None


def _as_datetime(raw: Any) -> datetime | date | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return parse_date_text(raw)
    except QueryError:
        return None


@dataclass(frozen=True)
class OutputOptions:
    """How SuiteQL values are written (the unverified parts are switches)."""

    as_strings: bool = True
    date_format: str = "us"


def format_date(value: date | datetime, date_format: str) -> str:
    """A date as NetSuite's default ``M/D/YYYY`` (``us``) or ISO 8601 (``iso``)."""
    if date_format == "iso":
        return value.isoformat().replace("+00:00", "Z")
    day = value.date() if isinstance(value, datetime) else value
    return f"{day.month}/{day.day}/{day.year}"


def output_value(
    column: Column,
    record_id: int,
    record_type: str,
    data: dict[str, Any],
    options: OutputOptions,
) -> Any:
    """A column's value in a SuiteQL row (None when null)."""
    kind = column.kind
    if kind == K.ID:
        return str(record_id) if options.as_strings else record_id
    if kind in (K.TRANTYPE, K.RECORDTYPE):
        return TRANSACTION_TYPES.get(record_type) if kind == K.TRANTYPE else record_type.lower()
    raw = data.get(column.key)
    if isinstance(raw, dict) and isinstance(raw.get("items"), list):
        # A multi-select ({"items": [refs]}): SuiteQL lists the ids.
        return ", ".join(str(v.get("id")) for v in raw["items"] if isinstance(v, dict)) or None
    if isinstance(raw, dict):
        return _reference_id(raw.get("id"), options)
    if raw is None or raw == "":
        return None
    return _scalar(kind, raw, options)


def _reference_id(raw: Any, options: OutputOptions) -> Any:
    if raw in (None, ""):
        return None
    if not options.as_strings and str(raw).isdigit():
        return int(raw)
    return str(raw)


def _scalar(kind: Kind, raw: Any, options: OutputOptions) -> Any:
    if kind == K.BOOL or isinstance(raw, bool):
        flag = raw if isinstance(raw, bool) else str(raw).lower() in ("t", "true")
        return ("T" if flag else "F") if options.as_strings else flag
    if kind in (K.DATE, K.DATETIME):
        parsed = _as_datetime(raw)
        return format_date(parsed, options.date_format) if parsed else str(raw)
    if kind == K.DURATION and (hours := hours_value(raw)) is not None:
        return _number_text(hours) if options.as_strings else float(hours)
    if isinstance(raw, int | float | Decimal):
        return _number_text(raw) if options.as_strings else raw
    if isinstance(raw, list):
        return ",".join(str(v.get("id") if isinstance(v, dict) else v) for v in raw)
    return str(raw)


def display_value(column: Column, data: dict[str, Any]) -> Any:
    """``BUILTIN.DF(col)``: a reference's display name, else the value itself."""
    raw = data.get(column.key)
    if isinstance(raw, dict):
        return raw.get("refName") or raw.get("id")
    return raw


def to_char(column: Column, data: dict[str, Any], fmt: str, record_id: int) -> str | None:
    """``TO_CHAR(col, 'fmt')`` of a date or date-time column (other kinds as text)."""
    if column.kind == K.ID:
        return str(record_id)
    raw = data.get(column.key)
    parsed = _as_datetime(raw) if column.kind in (K.DATE, K.DATETIME) else None
    if parsed is None:
        return None if raw is None else str(raw)
    if isinstance(parsed, datetime):
        parsed = parsed.astimezone(UTC)
    return parsed.strftime(oracle_to_strftime(fmt))
