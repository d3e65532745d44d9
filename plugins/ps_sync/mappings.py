"""Code translations and account maps: ``include/mappings/*.yaml``, validated when loaded.

=======================  ==========================================================================
``legal_entities.yaml``  legal entity → NetSuite subsidiary, currency, time zone, closed-period
                         policy, receipt threshold
``gl_accounts.yaml``     the accounts each legal entity posts to (shared defaults, per-entity
                         overrides)
``service_items.yaml``   practice (service line) and PSA role → NetSuite service item
``expense_categories``   PSA expense category → NetSuite expense category and GL account
``dimensions.yaml``      practice → NetSuite class, HCM department → NetSuite department
=======================  ==========================================================================

:func:`load_mappings` reads the five files, checks each against its schema and then against
the others, and returns an immutable :class:`Mappings` with lookups for Python code and
:meth:`Mappings.rows` for the PostgreSQL mapping tables set-based SQL joins. Every problem
found is collected into one :class:`MappingError`; each line names the file, the key path and
the problem, e.g.::

    include/mappings/gl_accounts.yaml: entities.UK01.labour_cost: missing (every legal entity
    needs labour_cost; set it under defaults or entities.UK01)

Other YAML files in the directory (calendars, field maps) are not read here.

Command line::

    python -m ps_sync.mappings check [DIRECTORY]
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import re
import sys
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType, NoneType, UnionType
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS_DIR = ROOT / "include" / "mappings"

LEGAL_ENTITIES = "legal_entities.yaml"
GL_ACCOUNTS = "gl_accounts.yaml"
SERVICE_ITEMS = "service_items.yaml"
EXPENSE_CATEGORIES = "expense_categories.yaml"
DIMENSIONS = "dimensions.yaml"

ClosedPeriodPolicy = Literal["hold", "next_open"]
REQUIRED_ACCOUNTS = ("labour_cost", "cost_clearing")
OPTIONAL_ACCOUNTS = ("unbilled_wip", "expense_payable")

_CODE = re.compile(r"[A-Z][A-Z0-9_-]{1,19}")
_RECORD_ID = re.compile(r"[1-9][0-9]*")
_YAML_MERGE_TAG = "tag:yaml.org,2002:merge"
_T = TypeVar("_T")


class MappingError(ValueError):
    """The mapping files are wrong; :attr:`problems` lists every problem, one line each.

    Args:
        problems: ``<file>: <key path>: <problem>`` lines.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        count = f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        super().__init__(f"{count} in the mappings:\n" + "\n".join(self.problems))


class UnmappedCodeError(LookupError):
    """A lookup asked for a code the mappings do not have; the message names the file."""


# --- scalar types of the YAML schema ------------------------------------------------------------


def _show(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value) if isinstance(value, str) else str(value)


def _record_id(value: object) -> str:
    if isinstance(value, int | str) and not isinstance(value, bool):
        text = str(value).strip()
        if _RECORD_ID.fullmatch(text):
            return text
    raise ValueError(
        f"should be a record id, a positive whole number like 1001 (got {_show(value)})"
    )


def _code(value: object) -> str:
    if isinstance(value, str) and _CODE.fullmatch(value):
        return value
    raise ValueError(
        f"{_show(value)} is not a code: 2-20 upper-case letters, digits, '_' or '-', "
        "starting with a letter"
    )


def _text(value: object) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError(f"should be non-empty text (got {_show(value)})")


def _account_number(value: object) -> str:
    return _text(str(value) if isinstance(value, int) and not isinstance(value, bool) else value)


def _currency(value: object) -> str:
    if isinstance(value, str) and re.fullmatch(r"[A-Z]{3}", value):
        return value
    raise ValueError(f"{_show(value)} is not an ISO 4217 currency code (three capitals, like USD)")


def _country(value: object) -> str:
    if isinstance(value, str) and re.fullmatch(r"[A-Z]{2}", value):
        return value
    raise ValueError(f"{_show(value)} is not an ISO 3166 country code (two capitals, like GB)")


def _time_zone(value: object) -> str:
    if isinstance(value, str):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            pass
        else:
            return value
    raise ValueError(f"{_show(value)} is not an IANA time zone (like Europe/London)")


def _amount(value: object) -> Decimal:
    amount: Decimal | None = None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        with contextlib.suppress(InvalidOperation):
            amount = Decimal(str(value).strip())
    if amount is None or not amount.is_finite():
        raise ValueError(f"should be a decimal amount like '75.00' (got {_show(value)})")
    if amount < 0:
        raise ValueError(f"must not be negative (got {value})")
    return amount


_RecordId = Annotated[str, PlainValidator(_record_id)]
_Code = Annotated[str, PlainValidator(_code)]
_Text = Annotated[str, PlainValidator(_text)]
_AccountNumber = Annotated[str, PlainValidator(_account_number)]
_Currency = Annotated[str, PlainValidator(_currency)]
_Country = Annotated[str, PlainValidator(_country)]
_TimeZone = Annotated[str, PlainValidator(_time_zone)]
_Amount = Annotated[Decimal, PlainValidator(_amount)]


# --- the schema of each file --------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _EntitySpec(_Spec):
    name: _Text
    subsidiary_id: _RecordId
    currency: _Currency
    currency_id: _RecordId
    country: _Country
    time_zone: _TimeZone
    closed_period_policy: ClosedPeriodPolicy
    receipt_threshold: _Amount


class _LegalEntitiesFile(_Spec):
    entities: dict[_Code, _EntitySpec]


class _AccountSpec(_Spec):
    id: _RecordId
    number: _AccountNumber


class _AccountSetSpec(_Spec):
    labour_cost: _AccountSpec | None = None
    cost_clearing: _AccountSpec | None = None
    unbilled_wip: _AccountSpec | None = None
    expense_payable: _AccountSpec | None = None


class _GlAccountsFile(_Spec):
    defaults: _AccountSetSpec = _AccountSetSpec()
    entities: dict[_Code, _AccountSetSpec] = {}


class _ItemSpec(_Spec):
    id: _RecordId
    code: _Text


class _ServiceLineSpec(_Spec):
    item: _ItemSpec


class _RoleSpec(_Spec):
    psa_role_id: _RecordId
    item: _ItemSpec | None = None


class _ServiceItemsFile(_Spec):
    service_lines: dict[_Code, _ServiceLineSpec]
    roles: dict[_Text, _RoleSpec]


class _ExpenseCategorySpec(_Spec):
    psa_category_id: _RecordId
    erp_expense_category_id: _RecordId
    gl_account: _AccountSpec


class _ExpenseCategoriesFile(_Spec):
    categories: dict[_Text, _ExpenseCategorySpec]


class _PracticeSpec(_Spec):
    name: _Text
    erp_class_id: _RecordId


class _DepartmentSpec(_Spec):
    name: _Text
    erp_department_id: _RecordId


class _DimensionsFile(_Spec):
    practices: dict[_Code, _PracticeSpec]
    departments: dict[_Code, _DepartmentSpec]


_SCHEMAS: dict[str, type[_Spec]] = {
    LEGAL_ENTITIES: _LegalEntitiesFile,
    GL_ACCOUNTS: _GlAccountsFile,
    SERVICE_ITEMS: _ServiceItemsFile,
    EXPENSE_CATEGORIES: _ExpenseCategoriesFile,
    DIMENSIONS: _DimensionsFile,
}


# --- the loaded mappings ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegalEntity:
    """A legal entity and its NetSuite subsidiary.

    Attributes:
        code: the entity code (CRM ``Legal_Entity__c``, HCM ``Company``), e.g. ``UK01``.
        name: registered name.
        subsidiary_id: NetSuite subsidiary internal id.
        currency: functional currency, ISO 4217.
        currency_id: NetSuite currency internal id of :attr:`currency`.
        country: ISO 3166 country code.
        time_zone: IANA time zone of work dates and cut-offs.
        closed_period_policy: ``hold`` or ``next_open`` for records dated in a closed period.
        receipt_threshold: an expense of more than this amount (entity currency) needs a receipt.
    """

    code: str
    name: str
    subsidiary_id: str
    currency: str
    currency_id: str
    country: str
    time_zone: str
    closed_period_policy: ClosedPeriodPolicy
    receipt_threshold: Decimal


@dataclass(frozen=True, slots=True)
class Account:
    """A GL account: NetSuite internal ``id`` and the account ``number`` finance uses."""

    id: str
    number: str


@dataclass(frozen=True, slots=True)
class EntityAccounts:
    """The accounts one legal entity posts to (defaults with its overrides applied)."""

    entity_code: str
    labour_cost: Account
    cost_clearing: Account
    unbilled_wip: Account | None
    expense_payable: Account | None

    def by_role(self) -> dict[str, Account]:
        """The accounts that are set, by role name (``labour_cost``, ``cost_clearing``, ...)."""
        roles = {role: getattr(self, role) for role in (*REQUIRED_ACCOUNTS, *OPTIONAL_ACCOUNTS)}
        return {role: account for role, account in roles.items() if account is not None}


@dataclass(frozen=True, slots=True)
class ServiceItem:
    """A NetSuite service item: internal ``id`` and its ``code`` (``itemId``)."""

    id: str
    code: str


@dataclass(frozen=True, slots=True)
class Practice:
    """A practice (service line): its NetSuite class and the service item its time bills as.

    Attributes:
        code: practice code, e.g. ``TECH``.
        name: the name the CRM uses (``Opportunity.Practice__c``).
        erp_class_id: NetSuite classification internal id.
        service_item: the item of time on this practice's projects (unless the role has one).
    """

    code: str
    name: str
    erp_class_id: str
    service_item: ServiceItem


@dataclass(frozen=True, slots=True)
class Department:
    """A department: the HCM's name for it and its NetSuite department."""

    code: str
    name: str
    erp_department_id: str


@dataclass(frozen=True, slots=True)
class Role:
    """A PSA role; ``item`` is set when the role bills as its own service item."""

    name: str
    psa_role_id: str
    item: ServiceItem | None


@dataclass(frozen=True, slots=True)
class ExpenseCategory:
    """A PSA expense category and where it goes in NetSuite.

    Attributes:
        name: the PSA category name (Kantata expense ``category``).
        psa_category_id: Kantata ``expense_category_id``.
        erp_expense_category_id: NetSuite expenseCategory internal id.
        gl_account: the category's expense account.
    """

    name: str
    psa_category_id: str
    erp_expense_category_id: str
    gl_account: Account


@dataclass(frozen=True)
class Mappings:
    """Every code translation and account map, validated; read-only.

    Attributes:
        directory: the folder the files were read from.
        entities: legal entities by code.
        accounts: each legal entity's accounts, by entity code.
        practices: practices (service lines) by code.
        departments: departments by code.
        roles: PSA roles by name.
        expense_categories: PSA expense categories by name.
    """

    directory: Path
    entities: Mapping[str, LegalEntity]
    accounts: Mapping[str, EntityAccounts]
    practices: Mapping[str, Practice]
    departments: Mapping[str, Department]
    roles: Mapping[str, Role]
    expense_categories: Mapping[str, ExpenseCategory]

    def _get(self, table: Mapping[str, _T], key: str, what: str, file: str) -> _T:
        try:
            return table[key]
        except KeyError:
            where = _label(self.directory / file)
            raise UnmappedCodeError(
                f"no {what} {key!r} in {where} (known: {', '.join(table)})"
            ) from None

    def _find(self, table: Mapping[str, _T], field: str, value: object, what: str, file: str) -> _T:
        for entry in table.values():
            if getattr(entry, field) == str(value):
                return entry
        where = _label(self.directory / file)
        known = ", ".join(getattr(entry, field) for entry in table.values())
        raise UnmappedCodeError(
            f"no {what} with {field} {str(value)!r} in {where} (known: {known})"
        )

    def entity(self, code: str) -> LegalEntity:
        """The legal entity with this code (e.g. ``UK01``).

        Raises:
            UnmappedCodeError: no such entity.
        """
        return self._get(self.entities, code, "legal entity", LEGAL_ENTITIES)

    def accounts_for(self, entity_code: str) -> EntityAccounts:
        """The accounts the legal entity posts to.

        Raises:
            UnmappedCodeError: no such entity.
        """
        return self._get(self.accounts, entity_code, "legal entity", GL_ACCOUNTS)

    def practice(self, code: str) -> Practice:
        """The practice with this code (e.g. ``TECH``).

        Raises:
            UnmappedCodeError: no such practice.
        """
        return self._get(self.practices, code, "practice", DIMENSIONS)

    def practice_named(self, name: str) -> Practice:
        """The practice the CRM calls ``name`` (``Opportunity.Practice__c``).

        Raises:
            UnmappedCodeError: no practice has that name.
        """
        return self._find(self.practices, "name", name, "practice", DIMENSIONS)

    def practice_for_class(self, erp_class_id: str | int) -> Practice:
        """The practice whose NetSuite class is ``erp_class_id`` (e.g. an ERP job's ``class``).

        Raises:
            UnmappedCodeError: no practice has that class.
        """
        return self._find(self.practices, "erp_class_id", erp_class_id, "practice", DIMENSIONS)

    def department(self, code: str) -> Department:
        """The department with this code.

        Raises:
            UnmappedCodeError: no such department.
        """
        return self._get(self.departments, code, "department", DIMENSIONS)

    def department_named(self, name: str) -> Department:
        """The department the HCM calls ``name`` (worker ``Department``).

        Raises:
            UnmappedCodeError: no department has that name.
        """
        return self._find(self.departments, "name", name, "department", DIMENSIONS)

    def role(self, name: str) -> Role:
        """The PSA role with this name (e.g. ``Senior Consultant``).

        Raises:
            UnmappedCodeError: no such role.
        """
        return self._get(self.roles, name, "role", SERVICE_ITEMS)

    def role_by_psa_id(self, psa_role_id: str | int) -> Role:
        """The PSA role with this Kantata id (a time entry's ``role_id``).

        Raises:
            UnmappedCodeError: no role has that id.
        """
        return self._find(self.roles, "psa_role_id", psa_role_id, "role", SERVICE_ITEMS)

    def service_item_for(self, practice: str, role: str | None = None) -> ServiceItem:
        """The service item time on a practice's project bills as.

        Args:
            practice: the project's practice code (service line).
            role: the PSA role name of the time; its own item, when it has one, wins.

        Returns:
            The NetSuite service item.

        Raises:
            UnmappedCodeError: unknown practice or role.
        """
        default = self.practice(practice).service_item
        if role is None:
            return default
        return self.role(role).item or default

    def expense_category(self, name: str) -> ExpenseCategory:
        """The mapping of the PSA expense category called ``name``.

        Raises:
            UnmappedCodeError: no such category.
        """
        return self._get(self.expense_categories, name, "expense category", EXPENSE_CATEGORIES)

    def expense_category_by_psa_id(self, psa_category_id: str | int) -> ExpenseCategory:
        """The mapping of the PSA expense category with this Kantata id.

        Raises:
            UnmappedCodeError: no category has that id.
        """
        return self._find(
            self.expense_categories,
            "psa_category_id",
            psa_category_id,
            "expense category",
            EXPENSE_CATEGORIES,
        )

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        """The mappings as rows of the PostgreSQL mapping tables, by table name.

        ``service_item_map`` is resolved: one row per (practice, role) with the item that time
        bills as, so SQL needs no precedence rule. ``gl_account_map`` has one row per entity and
        account role that is set. Ids are strings, as NetSuite and Kantata send them.

        Returns:
            ``entity_map``, ``gl_account_map``, ``service_item_map``, ``expense_category_map``
            and ``dimension_map`` rows (dicts keyed by column name).
        """
        return {
            "entity_map": [
                {
                    "entity_code": e.code,
                    "entity_name": e.name,
                    "subsidiary_id": e.subsidiary_id,
                    "currency": e.currency,
                    "currency_id": e.currency_id,
                    "country": e.country,
                    "time_zone": e.time_zone,
                    "closed_period_policy": e.closed_period_policy,
                    "receipt_threshold": e.receipt_threshold,
                }
                for e in self.entities.values()
            ],
            "gl_account_map": [
                {
                    "entity_code": code,
                    "account_role": role,
                    "account_id": account.id,
                    "account_number": account.number,
                }
                for code, accounts in self.accounts.items()
                for role, account in accounts.by_role().items()
            ],
            "service_item_map": [
                {
                    "practice_code": practice.code,
                    "role_name": role.name,
                    "psa_role_id": role.psa_role_id,
                    "item_id": item.id,
                    "item_code": item.code,
                }
                for practice in self.practices.values()
                for role in self.roles.values()
                for item in (role.item or practice.service_item,)
            ],
            "expense_category_map": [
                {
                    "psa_category_id": c.psa_category_id,
                    "psa_category_name": c.name,
                    "erp_expense_category_id": c.erp_expense_category_id,
                    "gl_account_id": c.gl_account.id,
                    "gl_account_number": c.gl_account.number,
                }
                for c in self.expense_categories.values()
            ],
            "dimension_map": [
                *(
                    {"dimension": "class", "code": p.code, "name": p.name, "erp_id": p.erp_class_id}
                    for p in self.practices.values()
                ),
                *(
                    {
                        "dimension": "department",
                        "code": d.code,
                        "name": d.name,
                        "erp_id": d.erp_department_id,
                    }
                    for d in self.departments.values()
                ),
            ],
        }


# --- loading ------------------------------------------------------------------------------------


def _label(path: Path) -> str:
    """How messages name a file: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _key_path(parts: Iterable[object]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f"{'.' if out else ''}{part}"
    return out


class _Problems:
    """The problems found so far, each prefixed with its file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lines: list[str] = []

    def add(self, file: str, path: Iterable[object], problem: str) -> None:
        key = _key_path(path)
        label = _label(self.directory / file)
        self.lines.append(f"{label}: {key}: {problem}" if key else f"{label}: {problem}")


def _duplicate_keys(
    node: yaml.Node, path: tuple[object, ...], seen: set[int]
) -> Iterator[tuple[tuple[object, ...], str]]:
    """``(key path, problem)`` of every key repeated within one YAML mapping."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key, value in node.value:
            if key.tag == _YAML_MERGE_TAG:
                continue
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else "<complex key>"
            line = key.start_mark.line + 1
            if name in first_line:
                yield (
                    (*path, name),
                    f"duplicate key (lines {first_line[name]} and {line}); YAML would silently "
                    "keep only the last",
                )
            else:
                first_line[name] = line
            yield from _duplicate_keys(value, (*path, name), seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, (*path, index), seen)


def _yaml_error(exc: yaml.MarkedYAMLError) -> str:
    """``line L, column C: YAML syntax error: <problem> (<context> at line ...)``."""

    def at(mark: Any) -> str:
        return f"line {mark.line + 1}, column {mark.column + 1}"

    mark = exc.problem_mark or exc.context_mark
    text = f"{at(mark)}: YAML syntax error: " if mark else "YAML syntax error: "
    text += exc.problem or exc.context or "unreadable"
    if exc.problem and exc.context and exc.context_mark:
        text += f" ({exc.context} at {at(exc.context_mark)})"
    return text


def _read_yaml(directory: Path, file: str, problems: _Problems) -> tuple[bool, Any]:
    """``(parsed, document)`` of one file; problems are recorded, not raised."""
    try:
        text = (directory / file).read_text(encoding="utf-8")
    except FileNotFoundError:
        problems.add(file, (), "file not found")
        return False, None
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(file, (), f"cannot be read ({exc})")
        return False, None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            problems.add(file, (), "the file is empty")
            return False, None
        for path, problem in _duplicate_keys(node, (), set()):
            problems.add(file, path, problem)
        return True, loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        problems.add(file, (), _yaml_error(exc))
    except yaml.YAMLError as exc:
        problems.add(file, (), f"YAML syntax error: {exc}")
    finally:
        loader.dispose()
    return False, None


def _unwrap(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not NoneType)
    return annotation


def _allowed_keys(schema: type[BaseModel], path: Sequence[object]) -> list[str]:
    """The keys the schema allows in the mapping at ``path``."""
    node: Any = schema
    for part in path:
        if isinstance(node, type) and issubclass(node, BaseModel):
            node = _unwrap(node.model_fields[str(part)].annotation)
        else:
            node = _unwrap(typing.get_args(node)[1])
    return list(node.model_fields)


def _describe(error: Any, schema: type[BaseModel], path: Sequence[object]) -> str:
    """One pydantic error as the problem text of a mapping message."""
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return "missing"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(schema, path[:-1])
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1)
        hint = f"did you mean {close[0]}?" if close else f"expected one of {', '.join(allowed)}"
        return f"unknown key; {hint}"
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", error["ctx"]["expected"])
        return f"{_show(value)} is not one of {', '.join(expected)}"
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return f"should be a mapping of keys to values (got {_show(value)})"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    return f"{error['msg']} (got {_show(value)})"


def _validate(file: str, document: Any, problems: _Problems) -> Any:
    """The file's schema model, or None after recording its problems."""
    schema = _SCHEMAS[file]
    if not isinstance(document, dict):
        keys = ", ".join(schema.model_fields)
        problems.add(file, (), f"should be a mapping with the keys {keys} (got {_show(document)})")
        return None
    try:
        return schema.model_validate(document)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            path = list(error["loc"])
            if path and path[-1] == "[key]":
                path.pop()
            problems.add(file, path, _describe(error, schema, path))
        return None


# Values that must lead back to one key: (file, section, field). ERP jobs carry a class, not a
# practice, so a class shared by two practices could not be traced back to its service item.
_UNIQUE_VALUES = (
    (LEGAL_ENTITIES, "entities", "subsidiary_id"),
    (SERVICE_ITEMS, "roles", "psa_role_id"),
    (EXPENSE_CATEGORIES, "categories", "psa_category_id"),
    (DIMENSIONS, "practices", "name"),
    (DIMENSIONS, "practices", "erp_class_id"),
    (DIMENSIONS, "departments", "name"),
)


def _check_unique_values(specs: Mapping[str, Any], problems: _Problems) -> None:
    for file, section, field in _UNIQUE_VALUES:
        if file not in specs:
            continue
        owner: dict[str, str] = {}
        for key, entry in getattr(specs[file], section).items():
            value = getattr(entry, field)
            if value in owner:
                problems.add(
                    file,
                    (section, key, field),
                    f"{value!r} is also the {field} of {section}.{owner[value]}; "
                    f"each {field} may appear only once",
                )
            else:
                owner[value] = key


def _account_uses(specs: Mapping[str, Any]) -> Iterator[tuple[str, tuple[str, ...], _AccountSpec]]:
    """``(file, key path, account)`` of every account the files name."""
    if GL_ACCOUNTS in specs:
        gl: _GlAccountsFile = specs[GL_ACCOUNTS]
        sets = [(("defaults",), gl.defaults)]
        sets += [(("entities", code), accounts) for code, accounts in gl.entities.items()]
        for prefix, accounts in sets:
            for role in (*REQUIRED_ACCOUNTS, *OPTIONAL_ACCOUNTS):
                if (account := getattr(accounts, role)) is not None:
                    yield GL_ACCOUNTS, (*prefix, role), account
    if EXPENSE_CATEGORIES in specs:
        categories: _ExpenseCategoriesFile = specs[EXPENSE_CATEGORIES]
        for name, category in categories.categories.items():
            yield EXPENSE_CATEGORIES, ("categories", name, "gl_account"), category.gl_account


def _check_account_numbers(specs: Mapping[str, Any], problems: _Problems) -> None:
    """One account id, one number, wherever the files name the account."""
    number_of: dict[str, tuple[str, str]] = {}
    id_of: dict[str, tuple[str, str]] = {}
    for file, path, account in _account_uses(specs):
        here = f"{file} {_key_path(path)}"
        number, there = number_of.setdefault(account.id, (account.number, here))
        if number != account.number:
            problems.add(
                file,
                (*path, "number"),
                f"{account.number!r}, but account id {account.id} is number {number!r} at {there}",
            )
        account_id, there = id_of.setdefault(account.number, (account.id, here))
        if account_id != account.id:
            problems.add(
                file,
                (*path, "id"),
                f"{account.id!r}, but account number {account.number} is id {account_id!r} "
                f"at {there}",
            )


def _section_keys(documents: Mapping[str, Any], file: str, section: str) -> list[str] | None:
    """The keys under ``section`` of a parsed file, even one that failed its schema."""
    document = documents.get(file)
    if isinstance(document, dict) and isinstance(document.get(section), dict):
        return [str(key) for key in document[section]]
    return None


def _check_references(documents: Mapping[str, Any], problems: _Problems) -> None:
    """Codes one file uses must exist in the file that defines them, and the reverse."""
    entities = _section_keys(documents, LEGAL_ENTITIES, "entities")
    overridden = _section_keys(documents, GL_ACCOUNTS, "entities")
    if entities is not None and overridden is not None:
        for code in overridden:
            if code not in entities:
                problems.add(
                    GL_ACCOUNTS,
                    ("entities", code),
                    f"no legal entity {code} in {LEGAL_ENTITIES} (known: {', '.join(entities)})",
                )
    practices = _section_keys(documents, DIMENSIONS, "practices")
    service_lines = _section_keys(documents, SERVICE_ITEMS, "service_lines")
    if practices is not None and service_lines is not None:
        for code in service_lines:
            if code not in practices:
                problems.add(
                    SERVICE_ITEMS,
                    ("service_lines", code),
                    f"no practice {code} in {DIMENSIONS} (known: {', '.join(practices)})",
                )
        for code in practices:
            if code not in service_lines:
                problems.add(
                    SERVICE_ITEMS,
                    ("service_lines", code),
                    f"missing (every practice in {DIMENSIONS} needs a service item)",
                )


def _resolve_accounts(
    gl: _GlAccountsFile, entities: Iterable[str], problems: _Problems
) -> dict[str, EntityAccounts]:
    """Each legal entity's accounts: its overrides over the defaults; gaps are problems."""
    resolved: dict[str, EntityAccounts] = {}
    for code in entities:
        override = gl.entities.get(code, _AccountSetSpec())
        chosen: dict[str, Account | None] = {}
        for role in (*REQUIRED_ACCOUNTS, *OPTIONAL_ACCOUNTS):
            account = getattr(override, role) or getattr(gl.defaults, role)
            chosen[role] = Account(account.id, account.number) if account else None
        missing = [role for role in REQUIRED_ACCOUNTS if chosen[role] is None]
        for role in missing:
            problems.add(
                GL_ACCOUNTS,
                ("entities", code, role),
                f"missing (every legal entity needs {role}; set it under defaults or "
                f"entities.{code})",
            )
        labour, clearing = chosen["labour_cost"], chosen["cost_clearing"]
        if labour and clearing and labour.id == clearing.id:
            problems.add(
                GL_ACCOUNTS,
                ("entities", code, "cost_clearing"),
                f"account {clearing.id} is also labour_cost; the journal would debit and credit "
                "the same account",
            )
        if not missing:
            resolved[code] = EntityAccounts(code, **chosen)  # type: ignore[arg-type]
    return resolved


def _build(
    directory: Path, specs: Mapping[str, Any], accounts: dict[str, EntityAccounts]
) -> Mappings:
    """The public, read-only objects from validated file models."""
    legal: _LegalEntitiesFile = specs[LEGAL_ENTITIES]
    items: _ServiceItemsFile = specs[SERVICE_ITEMS]
    categories: _ExpenseCategoriesFile = specs[EXPENSE_CATEGORIES]
    dimensions: _DimensionsFile = specs[DIMENSIONS]

    def item(spec: _ItemSpec) -> ServiceItem:
        return ServiceItem(spec.id, spec.code)

    return Mappings(
        directory=directory,
        entities=MappingProxyType(
            {code: LegalEntity(code, **e.model_dump()) for code, e in legal.entities.items()}
        ),
        accounts=MappingProxyType(accounts),
        practices=MappingProxyType(
            {
                code: Practice(code, p.name, p.erp_class_id, item(items.service_lines[code].item))
                for code, p in dimensions.practices.items()
            }
        ),
        departments=MappingProxyType(
            {
                code: Department(code, d.name, d.erp_department_id)
                for code, d in dimensions.departments.items()
            }
        ),
        roles=MappingProxyType(
            {
                name: Role(name, r.psa_role_id, item(r.item) if r.item else None)
                for name, r in items.roles.items()
            }
        ),
        expense_categories=MappingProxyType(
            {
                name: ExpenseCategory(
                    name,
                    c.psa_category_id,
                    c.erp_expense_category_id,
                    Account(c.gl_account.id, c.gl_account.number),
                )
                for name, c in categories.categories.items()
            }
        ),
    )


def load_mappings(directory: Path | str = MAPPINGS_DIR) -> Mappings:
    """Read and validate the mapping files.

    Each file is checked against its schema, then the files against each other (codes one
    file uses exist in the file defining them; every legal entity has its required accounts;
    every practice has a service item; no source code mapped twice).

    Args:
        directory: the folder holding the five mapping files.

    Returns:
        The validated, immutable mappings.

    Raises:
        MappingError: every problem found, each naming the file, the key path and the problem.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise MappingError([f"{_label(directory)}: not a directory"])
    problems = _Problems(directory)
    documents: dict[str, Any] = {}
    specs: dict[str, Any] = {}
    for file in _SCHEMAS:
        parsed, documents[file] = _read_yaml(directory, file, problems)
        spec = _validate(file, documents[file], problems) if parsed else None
        if spec is not None:
            specs[file] = spec
    _check_unique_values(specs, problems)
    _check_account_numbers(specs, problems)
    _check_references(documents, problems)
    entities = _section_keys(documents, LEGAL_ENTITIES, "entities")
    accounts: dict[str, EntityAccounts] = {}
    if GL_ACCOUNTS in specs and entities is not None:
        accounts = _resolve_accounts(specs[GL_ACCOUNTS], entities, problems)
    if problems.lines:
        raise MappingError(problems.lines)
    return _build(directory, specs, accounts)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ps_sync.mappings check [DIRECTORY]``: print OK or every problem (exit 1)."""
    parser = argparse.ArgumentParser(
        prog="python -m ps_sync.mappings", description="Check ps-sync's mapping files."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate the mapping files")
    check.add_argument(
        "directory",
        nargs="?",
        type=Path,
        default=MAPPINGS_DIR,
        help=f"the mappings folder (default: {_label(MAPPINGS_DIR)})",
    )
    args = parser.parse_args(argv)
    try:
        mappings = load_mappings(args.directory)
    except MappingError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(
        f"OK: {_label(args.directory)}: {len(mappings.entities)} legal entities, "
        f"{len(mappings.practices)} practices, {len(mappings.departments)} departments, "
        f"{len(mappings.roles)} roles, {len(mappings.expense_categories)} expense categories"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
