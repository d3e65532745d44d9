"""The SOQL subset the Salesforce sandbox understands, translated to PostgreSQL over JSON records.

Grammar (keywords are case-insensitive, as in SOQL)::

    SELECT <field>, ... | COUNT() | COUNT(<field>) [alias]
    FROM <sObject> [alias]
    [WHERE <condition>]
    [ORDER BY <field> [ASC|DESC] [NULLS FIRST|LAST], ...]
    [LIMIT <n>] [OFFSET <n>]

A field is a name or a path through parent relationships (``Account.Name``). A condition is
``<field> <op> <literal>`` with ``= != <> < <= > >=``, ``<field> [NOT] IN (<literal>, ...)``,
``<field> LIKE '<pattern>'``, combined with ``AND``/``OR`` and parentheses; as in SOQL, ``AND``
and ``OR`` may not be mixed without parentheses, and ``NOT`` applies to one parenthesised or
simple expression at the start of a condition. Literals: quoted strings (backslash escapes),
numbers, ``true``/``false``/``null``, unquoted dates (``2024-01-01``) and dateTimes
(``2024-05-01T00:00:00Z``, ``…+02:00``).

SOQL semantics kept: string comparisons and ``LIKE`` ignore case; ``!=`` and ``NOT IN`` also
match nulls; every predicate is two-valued (a null never makes ``NOT`` drop a row); ``ORDER BY``
puts nulls first ascending and last descending; literal types must match the field's type
(``CloseDate = '2024-01-01'`` is an error, as in Salesforce); 15-character ids are accepted
wherever 18-character ids are.

Not supported (answered ``MALFORMED_QUERY``): subqueries, ``GROUP BY``/``HAVING``, aggregate
functions other than ``COUNT``, date functions, named date literals (``TODAY``,
``LAST_N_DAYS:n``), ``INCLUDES``/``EXCLUDES``, ``TYPEOF``, ``FOR``/``WITH``/``USING SCOPE``.

Values are always bound parameters. Identifiers in the SQL come from the :class:`SObjectDef`
schema only (checked against a strict pattern), never from the query text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_ID_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
MAX_OFFSET = 2000
MAX_QUERY_LENGTH = 100_000

# Field types and the type name Salesforce uses in its filter-criterion messages.
TYPE_NAMES = {
    "id": "id",
    "reference": "id",
    "string": "string",
    "date": "date",
    "datetime": "dateTime",
    "boolean": "boolean",
    "number": "double",
}
_TEXT_TYPES = ("id", "reference", "string")


def is_id(value: str) -> bool:
    """True for a well-formed 15- or 18-character Salesforce id."""
    return bool(_ID.match(value))


def to_id18(value: str) -> str:
    """The 18-character form of a Salesforce id (15-character ids get their checksum suffix)."""
    if len(value) != 15:
        return value
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, char in enumerate(value[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << i
        suffix += _ID_SUFFIX[bits]
    return value + suffix


# --- schema ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldDef:
    """One sObject field.

    Attributes:
        name: API name (its casing is the one answered).
        type: ``id | reference | string | date | datetime | boolean | number``.
        derived: computed by the service, never stored (e.g. ``IsWon``).
        updatable: clients may set it through the API.
    """

    name: str
    type: str
    derived: bool = False
    updatable: bool = True

    def __post_init__(self) -> None:
        if not _IDENTIFIER.match(self.name) or self.type not in TYPE_NAMES:
            raise ValueError(f"bad field definition {self.name!r}: {self.type!r}")


@dataclass(frozen=True)
class Relationship:
    """A parent relationship: ``name`` (``Account``) follows ``field`` (``AccountId``).

    ``target`` is the parent's sObject name.
    """

    name: str
    field: str
    target: str


@dataclass(frozen=True)
class SObjectDef:
    """An sObject type: its fields (in answer order) and parent relationships."""

    name: str
    key_prefix: str
    fields: tuple[FieldDef, ...]
    relationships: tuple[Relationship, ...] = ()

    def __post_init__(self) -> None:
        if not _IDENTIFIER.match(self.name):
            raise ValueError(f"bad sObject name {self.name!r}")

    def field(self, name: str) -> FieldDef | None:
        """The field called ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((f for f in self.fields if f.name.lower() == lowered), None)

    def relationship(self, name: str) -> Relationship | None:
        """The parent relationship called ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((r for r in self.relationships if r.name.lower() == lowered), None)


# --- errors ---------------------------------------------------------------------------------


class SoqlError(Exception):
    """A query Salesforce would refuse with HTTP 400.

    Args:
        error_code: ``MALFORMED_QUERY``, ``INVALID_FIELD``, ``INVALID_TYPE``, ...
        message: the explanation, without the position prefix.
        query: the query text, to point at the error as Salesforce does.
        position: 0-based offset of the offending token in ``query``.
    """

    def __init__(
        self, error_code: str, message: str, query: str = "", position: int | None = None
    ) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.query = query
        self.position = position

    def salesforce_message(self) -> str:
        """The message as Salesforce words it: the query line, a caret, row and column."""
        if self.position is None or not self.query:
            return self.message
        start = self.query.rfind("\n", 0, self.position) + 1
        end = self.query.find("\n", self.position)
        line = self.query[start : end if end >= 0 else len(self.query)]
        row = self.query.count("\n", 0, self.position) + 1
        column = self.position - start + 1
        return (
            f"\n{line}\n{' ' * (column - 1)}^\nERROR at Row:{row}:Column:{column}\n{self.message}"
        )


# --- tokens ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})(?![\w:])
  | (?P<number>[+-]?\d+(?:\.\d+)?)(?![\w.])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>')
  | (?P<op><>|!=|<=|>=|=|<|>)
  | (?P<punct>[(),.])
    """,
    re.VERBOSE,
)
_KEYWORDS = frozenset(
    [
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "TRUE",
        "FALSE",
        "NULL",
        "COUNT",
        "GROUP",
        "HAVING",
        "WITH",
        "FOR",
        "USING",
        "INCLUDES",
        "EXCLUDES",
        "TYPEOF",
    ]
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass(frozen=True)
class Token:
    """A lexical token: ``kind`` is ``ident keyword string number date datetime op punct eof``."""

    kind: str
    text: str
    value: Any
    pos: int


def _read_string(text: str, start: int) -> tuple[str, int]:
    """The value of the string literal opening at ``start`` and the offset after it.

    ``\\%`` and ``\\_`` stay escaped: they only mean something to ``LIKE``.
    """
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "'":
            return "".join(out), i + 1
        if char == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in ("%", "_"):
                out.append("\\" + nxt)
            else:
                raise SoqlError(
                    "MALFORMED_QUERY",
                    "Invalid string literal '" + text[start : i + 2] + "'. Illegal character "
                    "sequence '\\" + nxt + "' in string literal.",
                    text,
                    start,
                )
            i += 2
            continue
        out.append(char)
        i += 1
    raise SoqlError("MALFORMED_QUERY", "unterminated string literal", text, start)


def tokenize(text: str) -> list[Token]:
    """Split SOQL into tokens (the last one is ``eof``)."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[pos]}'", text, pos)
        kind = match.lastgroup or ""
        raw = match.group()
        if kind == "ws":
            pos = match.end()
            continue
        if kind == "string":
            value, end = _read_string(text, pos)
            tokens.append(Token("string", text[pos:end], value, pos))
            pos = end
            continue
        value: Any = raw
        if kind == "ident" and raw.upper() in _KEYWORDS:
            kind, value = "keyword", raw.upper()
        elif kind == "number":
            value = Decimal(raw)
        elif kind == "date":
            value = _parse_date(raw, text, pos)
        elif kind == "datetime":
            value = _parse_datetime(raw, text, pos)
        tokens.append(Token(kind, raw, value, pos))
        pos = match.end()
    tokens.append(Token("eof", "<EOF>", None, len(text)))
    return tokens


def _parse_date(raw: str, text: str, pos: int) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise SoqlError("MALFORMED_QUERY", f"invalid date: {raw}", text, pos) from exc


def _parse_datetime(raw: str, text: str, pos: int) -> datetime:
    try:
        return datetime.fromisoformat(raw)
    except ValueError as exc:
        raise SoqlError("MALFORMED_QUERY", f"invalid dateTime: {raw}", text, pos) from exc


# --- syntax tree ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldPath:
    """A field reference as written: ``("Account", "Name")``."""

    parts: tuple[str, ...]
    pos: int


@dataclass(frozen=True)
class Literal:
    """A literal value: ``kind`` is ``string number boolean null date datetime``."""

    kind: str
    value: Any
    pos: int


@dataclass(frozen=True)
class Comparison:
    """``field op literal``."""

    field: FieldPath
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    """``field [NOT] IN (literal, ...)``."""

    field: FieldPath
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    """``field LIKE 'pattern'``."""

    field: FieldPath
    pattern: Literal


@dataclass(frozen=True)
class BoolOp:
    """Two or more conditions joined by one operator (``AND`` or ``OR``)."""

    op: str
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    """``NOT condition``."""

    item: Any


@dataclass(frozen=True)
class OrderItem:
    """One ``ORDER BY`` key."""

    field: FieldPath
    descending: bool
    nulls_first: bool


@dataclass(frozen=True)
class Count:
    """``COUNT()`` (``field`` None) or ``COUNT(field) [alias]``."""

    field: FieldPath | None
    alias: str | None


@dataclass(frozen=True)
class Query:
    """A parsed SOQL query."""

    text: str
    sobject: str
    sobject_pos: int
    alias: str | None
    fields: tuple[FieldPath, ...]
    count: Count | None
    where: Any
    order: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None


# --- parser ---------------------------------------------------------------------------------

_COMPARISON_OPS = ("=", "!=", "<>", "<", "<=", ">", ">=")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def unexpected(self, token: Token | None = None) -> SoqlError:
        token = token or self.tok
        return SoqlError(
            "MALFORMED_QUERY", f"unexpected token: '{token.text}'", self.text, token.pos
        )

    def is_keyword(self, *words: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.value in words

    def expect_keyword(self, word: str) -> Token:
        if not self.is_keyword(word):
            raise self.unexpected()
        return self.advance()

    def expect_punct(self, char: str) -> Token:
        if not (self.tok.kind == "punct" and self.tok.text == char):
            raise self.unexpected()
        return self.advance()

    def at_punct(self, char: str) -> bool:
        return self.tok.kind == "punct" and self.tok.text == char

    def identifier(self) -> Token:
        if self.tok.kind != "ident":
            raise self.unexpected()
        return self.advance()

    def field_path(self) -> FieldPath:
        first = self.identifier()
        parts = [first.text]
        while self.at_punct("."):
            self.advance()
            parts.append(self.identifier().text)
        return FieldPath(tuple(parts), first.pos)

    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        fields: list[FieldPath] = []
        count: Count | None = None
        if self.is_keyword("COUNT"):
            count = self.count()
        else:
            fields.append(self.field_path())
            while self.at_punct(","):
                self.advance()
                if self.is_keyword("COUNT"):
                    raise self.unexpected()
                fields.append(self.field_path())
        self.expect_keyword("FROM")
        sobject = self.identifier()
        alias = self.advance().text if self.tok.kind == "ident" else None
        where = None
        if self.is_keyword("WHERE"):
            self.advance()
            where = self.condition()
        order: list[OrderItem] = []
        if self.is_keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            order.append(self.order_item())
            while self.at_punct(","):
                self.advance()
                order.append(self.order_item())
        limit = self.integer_clause("LIMIT")
        offset = self.integer_clause("OFFSET")
        if self.tok.kind != "eof":
            raise self.unexpected()
        return Query(
            self.text,
            sobject.text,
            sobject.pos,
            alias,
            tuple(fields),
            count,
            where,
            tuple(order),
            limit,
            offset,
        )

    def count(self) -> Count:
        self.advance()
        self.expect_punct("(")
        path = None if self.at_punct(")") else self.field_path()
        self.expect_punct(")")
        alias = None
        if path is not None and self.tok.kind == "ident":
            alias = self.advance().text
        if self.at_punct(","):
            raise self.unexpected()
        return Count(path, alias)

    def integer_clause(self, word: str) -> int | None:
        if not self.is_keyword(word):
            return None
        self.advance()
        token = self.tok
        if (
            token.kind != "number"
            or token.value != token.value.to_integral_value()
            or token.value < 0
        ):
            raise self.unexpected()
        self.advance()
        return int(token.value)

    def order_item(self) -> OrderItem:
        path = self.field_path()
        descending = False
        if self.is_keyword("ASC", "DESC"):
            descending = self.advance().value == "DESC"
        nulls_first = not descending
        if self.is_keyword("NULLS"):
            self.advance()
            if not self.is_keyword("FIRST", "LAST"):
                raise self.unexpected()
            nulls_first = self.advance().value == "FIRST"
        return OrderItem(path, descending, nulls_first)

    def condition(self) -> Any:
        if self.is_keyword("NOT"):
            self.advance()
            return Not(self.term())
        items = [self.term()]
        op: str | None = None
        while self.is_keyword("AND", "OR"):
            if op is not None and self.tok.value != op:
                raise self.unexpected()
            op = self.advance().value
            items.append(self.term())
        return items[0] if op is None else BoolOp(op, tuple(items))

    def term(self) -> Any:
        if self.at_punct("("):
            self.advance()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        path = self.field_path()
        if self.tok.kind == "op":
            op = self.advance().text
            return Comparison(path, "!=" if op == "<>" else op, self.literal())
        if self.is_keyword("LIKE"):
            self.advance()
            return Like(path, self.literal())
        negated = False
        if self.is_keyword("NOT"):
            self.advance()
            negated = True
            if not self.is_keyword("IN"):
                raise self.unexpected()
        if self.is_keyword("IN"):
            self.advance()
            self.expect_punct("(")
            values = [self.literal()]
            while self.at_punct(","):
                self.advance()
                values.append(self.literal())
            self.expect_punct(")")
            return InList(path, tuple(values), negated)
        raise self.unexpected()

    def literal(self) -> Literal:
        token = self.tok
        if token.kind in ("string", "number", "date", "datetime"):
            self.advance()
            return Literal(token.kind, token.value, token.pos)
        if self.is_keyword("TRUE", "FALSE"):
            self.advance()
            return Literal("boolean", token.value == "TRUE", token.pos)
        if self.is_keyword("NULL"):
            self.advance()
            return Literal("null", None, token.pos)
        raise self.unexpected()


def parse(text: str) -> Query:
    """Parse one SOQL query; raise :class:`SoqlError` as Salesforce would answer it."""
    if len(text) > MAX_QUERY_LENGTH:
        raise SoqlError(
            "MALFORMED_QUERY", "SOQL statements cannot be longer than 100,000 characters."
        )
    if not text.strip():
        raise SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>", text, 0)
    return _Parser(text).parse()


# --- translation to SQL ---------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedField:
    """A field path resolved against the schema: the relationships followed, then the field."""

    chain: tuple[Relationship, ...]
    field: FieldDef
    owner: SObjectDef


# Derived fields: (sObject, field, SQL alias of the record) -> (SQL expression, named
# parameters it binds, e.g. ``%(won_stages)s``).
DerivedSql = Callable[[SObjectDef, FieldDef, str], tuple[str, dict[str, Any]]]


@dataclass
class Plan:
    """A query translated to SQL on the ``record`` table.

    ``ids_sql`` selects the matching record ids in answer order (LIMIT/OFFSET applied);
    ``count_sql`` counts them (for ``COUNT()`` and ``COUNT(field)``). Both take ``params``
    (named placeholders).
    """

    query: Query
    sobject: SObjectDef
    fields: list[ResolvedField]
    ids_sql: str
    count_sql: str
    params: dict[str, Any] = field(default_factory=dict)


class _Compiler:
    def __init__(
        self,
        query: Query,
        schema: dict[str, SObjectDef],
        derived: DerivedSql,
        include_deleted: bool,
    ) -> None:
        self.query = query
        self.schema = schema
        self.derived = derived
        self.include_deleted = include_deleted
        self.joins: dict[tuple[str, ...], str] = {}
        self.join_sql: list[str] = []
        self.params: dict[str, Any] = {}
        self.bound = 0
        sobject = next((s for n, s in schema.items() if n.lower() == query.sobject.lower()), None)
        if sobject is None:
            raise SoqlError(
                "INVALID_TYPE",
                f"sObject type '{query.sobject}' is not supported. If you are attempting to use "
                "a custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
                query.text,
                query.sobject_pos,
            )
        self.sobject = sobject

    def error(self, code: str, message: str, pos: int) -> SoqlError:
        return SoqlError(code, message, self.query.text, pos)

    def bind(self, value: Any) -> str:
        name = f"v{self.bound}"
        self.bound += 1
        self.params[name] = value
        return f"%({name})s"

    # fields

    def resolve(self, path: FieldPath) -> ResolvedField:
        parts = list(path.parts)
        prefixes = {self.sobject.name.lower(), (self.query.alias or "").lower()}
        if len(parts) > 1 and parts[0].lower() in prefixes:
            parts = parts[1:]
        current = self.sobject
        chain: list[Relationship] = []
        for part in parts[:-1]:
            rel = current.relationship(part)
            if rel is None:
                raise self.error(
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{part}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' after "
                    "the custom relationship name. Please reference your WSDL or the describe "
                    "call for the appropriate names.",
                    path.pos,
                )
            chain.append(rel)
            current = self.schema[rel.target]
        found = current.field(parts[-1])
        if found is None:
            raise self.error(
                "INVALID_FIELD",
                f"No such column '{parts[-1]}' on entity '{current.name}'. If you are attempting "
                "to use a custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
                path.pos,
            )
        return ResolvedField(tuple(chain), found, current)

    def alias_for(self, chain: tuple[Relationship, ...]) -> str:
        alias = "r"
        for depth in range(1, len(chain) + 1):
            key = tuple(r.name for r in chain[:depth])
            if key not in self.joins:
                rel = chain[depth - 1]
                child, self.joins[key] = alias, f"p{len(self.joins) + 1}"
                self.join_sql.append(
                    f"LEFT JOIN record {self.joins[key]} ON {self.joins[key]}.type = "
                    f"'{rel.target}' AND {self.joins[key]}.data->>'Id' = "
                    f"{child}.data->>'{rel.field}'"
                )
            alias = self.joins[key]
        return alias

    def expression(self, resolved: ResolvedField) -> str:
        alias = self.alias_for(resolved.chain)
        f = resolved.field
        if f.derived:
            sql, params = self.derived(resolved.owner, f, alias)
            self.params.update(params)
            return sql
        text = f"({alias}.data->>'{f.name}')"
        casts = {
            "date": "date",
            "datetime": "timestamptz",
            "boolean": "boolean",
            "number": "numeric",
        }
        return f"{text}::{casts[f.type]}" if f.type in casts else text

    # conditions

    def condition(self, node: Any) -> str:
        if isinstance(node, BoolOp):
            return "(" + f" {node.op} ".join(self.condition(i) for i in node.items) + ")"
        if isinstance(node, Not):
            return f"NOT {self.condition(node.item)}"
        resolved = self.resolve(node.field)
        expr = self.expression(resolved)
        if isinstance(node, Comparison):
            return self.comparison(resolved, expr, node)
        if isinstance(node, InList):
            return self.in_list(resolved, expr, node)
        return self.like(resolved, expr, node)

    def value(self, resolved: ResolvedField, literal: Literal) -> Any:
        f = resolved.field
        if literal.kind == "null":
            return None
        wanted = {
            "id": "string",
            "reference": "string",
            "string": "string",
            "date": "date",
            "datetime": "datetime",
            "boolean": "boolean",
            "number": "number",
        }[f.type]
        if literal.kind != wanted:
            quoted = (
                "should be enclosed in quotes"
                if wanted == "string"
                else ("should not be enclosed in quotes")
            )
            raise self.error(
                "INVALID_FIELD",
                f"value of filter criterion for field '{f.name}' must be of type "
                f"{TYPE_NAMES[f.type]} and {quoted}",
                literal.pos,
            )
        if f.type in ("id", "reference"):
            if literal.value and not is_id(literal.value):
                raise self.error(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"invalid ID field: {literal.value}",
                    literal.pos,
                )
            return to_id18(literal.value)
        if f.type == "string":
            return literal.value.replace("\\%", "%").replace("\\_", "_").lower()
        return literal.value

    def text_side(self, resolved: ResolvedField, expr: str) -> str:
        return f"lower({expr})" if resolved.field.type == "string" else expr

    def comparison(self, resolved: ResolvedField, expr: str, node: Comparison) -> str:
        value = self.value(resolved, node.value)
        if value is None:
            if node.op not in ("=", "!="):
                raise self.error(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    f"invalid operator on null value: {node.op}",
                    node.value.pos,
                )
            return f"({expr} IS {'' if node.op == '=' else 'NOT '}NULL)"
        if resolved.field.type == "boolean" and node.op not in ("=", "!="):
            raise self.error(
                "INVALID_QUERY_FILTER_OPERATOR",
                f"invalid operator on boolean field: {node.op}",
                node.value.pos,
            )
        side, placeholder = self.text_side(resolved, expr), self.bind(value)
        if node.op == "!=":
            return f"({side} IS DISTINCT FROM {placeholder})"
        return f"coalesce({side} {node.op} {placeholder}, false)"

    def in_list(self, resolved: ResolvedField, expr: str, node: InList) -> str:
        values = [self.value(resolved, v) for v in node.values]
        present = [v for v in values if v is not None]
        side = self.text_side(resolved, expr)
        member = f"coalesce({side} = ANY({self.bind(present)}), false)"
        if None in values:
            member = f"({member} OR {expr} IS NULL)"
        return f"NOT {member}" if node.negated else member

    def like(self, resolved: ResolvedField, expr: str, node: Like) -> str:
        if resolved.field.type not in _TEXT_TYPES:
            raise self.error(
                "INVALID_FIELD",
                f"invalid operator on field '{resolved.field.name}': LIKE is only valid on "
                "string fields",
                node.field.pos,
            )
        if node.pattern.kind != "string":
            raise self.error(
                "INVALID_FIELD",
                f"value of filter criterion for field '{resolved.field.name}' must be of type "
                "string and should be enclosed in quotes",
                node.pattern.pos,
            )
        return f"coalesce({expr} ILIKE {self.bind(node.pattern.value)}, false)"

    # the whole query

    def compile(self) -> Plan:
        query = self.query
        fields = [self.resolve(p) for p in query.fields]
        seen: set[tuple[str, ...]] = set()
        for path, resolved in zip(query.fields, fields, strict=True):
            key = (*(r.name for r in resolved.chain), resolved.field.name)
            if key in seen:
                raise self.error(
                    "MALFORMED_QUERY", f"duplicate field selected: {'.'.join(key)}", path.pos
                )
            seen.add(key)
        if query.offset is not None and query.offset > MAX_OFFSET:
            raise SoqlError(
                "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}"
            )
        where = [f"r.type = '{self.sobject.name}'"]
        if not self.include_deleted and self.sobject.field("IsDeleted") is not None:
            where.append("NOT coalesce((r.data->>'IsDeleted')::boolean, false)")
        if query.where is not None:
            where.append(self.condition(query.where))
        order_sql = []
        for item in query.order:
            resolved = self.resolve(item.field)
            expr = self.expression(resolved)
            order_sql.append(
                f"{self.text_side(resolved, expr)} {'DESC' if item.descending else 'ASC'} "
                f"NULLS {'FIRST' if item.nulls_first else 'LAST'}"
            )
        count_expr = "count(*)"
        if query.count is not None and query.count.field is not None:
            count_expr = f"count({self.expression(self.resolve(query.count.field))})"
        source = " ".join(["record r", *self.join_sql])
        condition = " AND ".join(where)
        page = ""
        if query.limit is not None:
            page += f" LIMIT {int(query.limit)}"
        if query.offset:
            page += f" OFFSET {int(query.offset)}"
        ids_sql = (
            f"SELECT r.id FROM {source} WHERE {condition} "
            f"ORDER BY {', '.join([*order_sql, 'r.id'])}{page}"
        )
        count_sql = f"SELECT {count_expr} AS n FROM {source} WHERE {condition}"
        return Plan(query, self.sobject, fields, ids_sql, count_sql, self.params)


def compile_query(
    query: Query,
    schema: dict[str, SObjectDef],
    derived: DerivedSql,
    *,
    include_deleted: bool = False,
) -> Plan:
    """Translate a parsed query to SQL over the ``record`` table.

    Args:
        query: the parsed query.
        schema: sObject name → definition.
        derived: SQL for derived fields (e.g. ``IsWon`` from ``StageName``).
        include_deleted: ``queryAll`` (rows with ``IsDeleted`` true are kept).
    """
    return _Compiler(query, schema, derived, include_deleted).compile()
