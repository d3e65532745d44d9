"""The mapping files: the shipped ones load, and every kind of mistake is named precisely.

Each fault case edits a temporary copy of ``include/mappings`` in one place and expects a
problem line ``<file>: <key path>: <problem>`` for exactly that place.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from ps_sync.mappings import (
    MAPPINGS_DIR,
    Account,
    MappingError,
    ServiceItem,
    UnmappedCodeError,
    load_mappings,
    main,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A private copy of the shipped mappings to break."""
    return Path(shutil.copytree(MAPPINGS_DIR, tmp_path / "mappings"))


def edit(folder: Path, file: str, old: str, new: str) -> None:
    """Replace the first ``old`` in ``file`` with ``new`` (which must be there)."""
    path = folder / file
    text = path.read_text()
    assert old in text, f"{file} has no {old!r}"
    path.write_text(text.replace(old, new, 1))


def problems_of(folder: Path) -> list[str]:
    """The problem lines loading ``folder`` reports."""
    with pytest.raises(MappingError) as raised:
        load_mappings(folder)
    assert str(raised.value).splitlines()[1:] == list(raised.value.problems)
    return list(raised.value.problems)


def assert_reported(folder: Path, file: str, expected: str) -> None:
    """Some problem line names ``file`` and starts its text with ``expected``."""
    problems = problems_of(folder)
    prefix = f"{folder / file}: {expected}"
    assert any(p.startswith(prefix) for p in problems), "\n".join(["no", prefix, "in", *problems])


def test_the_shipped_mappings_load() -> None:
    mappings = load_mappings()

    uk = mappings.entity("UK01")
    assert (uk.subsidiary_id, uk.currency, uk.currency_id) == ("3", "GBP", "2")
    assert uk.time_zone == "Europe/London"
    assert {e.receipt_threshold for e in mappings.entities.values()} == {Decimal("75.00")}
    assert {e.closed_period_policy for e in mappings.entities.values()} <= {"hold", "next_open"}
    for code in mappings.entities:
        accounts = mappings.accounts_for(code)
        assert accounts.labour_cost == Account("5000", "5000")
        assert accounts.cost_clearing == Account("2100", "2100")
    assert mappings.service_item_for("TECH") == ServiceItem("2", "PS-TECH")
    assert mappings.service_item_for("TECH", "Director") == ServiceItem("2", "PS-TECH")
    assert mappings.practice_for_class("3").code == "FIN"
    assert mappings.practice_named("Data and Analytics").code == "DATA"
    assert mappings.department_named("Operations").erp_department_id == "4"
    assert mappings.role_by_psa_id(1003).name == "Senior Consultant"
    meals = mappings.expense_category("Meals")
    assert (meals.psa_category_id, meals.erp_expense_category_id) == ("3", "3")
    assert meals.gl_account == Account("6120", "6120")
    assert mappings.expense_category_by_psa_id("5").name == "Mileage"


def test_rows_give_one_table_per_mapping_for_sql_joins() -> None:
    mappings = load_mappings()
    rows = mappings.rows()

    assert set(rows) == {
        "entity_map",
        "gl_account_map",
        "service_item_map",
        "expense_category_map",
        "dimension_map",
    }
    assert [r["entity_code"] for r in rows["entity_map"]] == ["US01", "UK01", "AU01"]
    assert rows["entity_map"][1]["receipt_threshold"] == Decimal("75.00")
    # Every (practice, role) pair resolves to one item, so SQL joins without precedence rules.
    pairs = {(r["practice_code"], r["psa_role_id"]) for r in rows["service_item_map"]}
    assert len(pairs) == len(rows["service_item_map"]) == 5 * 6
    assert {
        (r["account_role"], r["account_id"])
        for r in rows["gl_account_map"]
        if r["entity_code"] == "AU01"
    } == {
        ("labour_cost", "5000"),
        ("cost_clearing", "2100"),
        ("unbilled_wip", "1250"),
        ("expense_payable", "2150"),
    }
    assert len(rows["expense_category_map"]) == 8
    assert {(r["dimension"], r["code"], r["erp_id"]) for r in rows["dimension_map"]} >= {
        ("class", "STRAT", "1"),
        ("department", "DATA", "5"),
    }
    assert all(isinstance(v, str) for r in rows["service_item_map"] for v in r.values())


def test_the_mappings_are_read_only() -> None:
    mappings = load_mappings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        mappings.entity("US01").subsidiary_id = "9"  # type: ignore[misc]
    with pytest.raises(TypeError):
        mappings.entities["DE01"] = mappings.entity("US01")  # type: ignore[index]


def test_unknown_codes_name_the_file_and_what_is_known() -> None:
    mappings = load_mappings()
    with pytest.raises(UnmappedCodeError, match=r"no legal entity 'DE01' in .*legal_entities"):
        mappings.entity("DE01")
    with pytest.raises(UnmappedCodeError, match=r"no role 'Partner' in .*service_items.yaml"):
        mappings.service_item_for("TECH", "Partner")
    with pytest.raises(UnmappedCodeError, match=r"psa_category_id '99' .*known: 1, 2, 3"):
        mappings.expense_category_by_psa_id(99)
    with pytest.raises(UnmappedCodeError, match=r"practice with name 'Legal' .*dimensions.yaml"):
        mappings.practice_named("Legal")


def test_a_role_with_its_own_item_bills_as_that_item(folder: Path) -> None:
    edit(
        folder,
        "service_items.yaml",
        "Director: {psa_role_id: 1006}",
        "Director: {psa_role_id: 1006, item: {id: 77, code: PS-ADVISORY}}",
    )
    mappings = load_mappings(folder)

    assert mappings.service_item_for("TECH", "Director") == ServiceItem("77", "PS-ADVISORY")
    assert mappings.service_item_for("TECH", "Manager") == ServiceItem("2", "PS-TECH")
    items = {
        (r["practice_code"], r["role_name"]): r["item_code"]
        for r in mappings.rows()["service_item_map"]
    }
    assert items["OPS", "Director"] == "PS-ADVISORY"
    assert items["OPS", "Analyst"] == "PS-OPS"


def test_an_entity_can_override_single_accounts(folder: Path) -> None:
    edit(
        folder,
        "gl_accounts.yaml",
        "  UK01: {}",
        '  UK01: {labour_cost: {id: 5010, number: "5010"}}',
    )
    mappings = load_mappings(folder)

    assert mappings.accounts_for("UK01").labour_cost == Account("5010", "5010")
    assert mappings.accounts_for("UK01").cost_clearing == Account("2100", "2100")
    assert mappings.accounts_for("US01").labour_cost == Account("5000", "5000")


FAULTS = [
    pytest.param(
        "legal_entities.yaml",
        "    closed_period_policy: hold\n",
        "",
        "entities.US01.closed_period_policy: missing",
        id="missing key",
    ),
    pytest.param(
        "gl_accounts.yaml",
        '  labour_cost: {id: 5000, number: "5000"}',
        "",
        "entities.UK01.labour_cost: missing (every legal entity needs labour_cost; "
        "set it under defaults or entities.UK01)",
        id="missing required account",
    ),
    pytest.param(
        "legal_entities.yaml",
        "    subsidiary_id: 3\n",
        "    subsidiary_id: 3\n    subsidary: 3\n",
        "entities.UK01.subsidary: unknown key; did you mean subsidiary_id?",
        id="unknown key",
    ),
    pytest.param(
        "dimensions.yaml",
        "departments:",
        "regions: {}\ndepartments:",
        "regions: unknown key; expected one of practices, departments",
        id="unknown top-level key",
    ),
    pytest.param(
        "legal_entities.yaml",
        "subsidiary_id: 4",
        "subsidiary_id: four",
        "entities.AU01.subsidiary_id: should be a record id, a positive whole number like 1001 "
        "(got 'four')",
        id="wrong type: id",
    ),
    pytest.param(
        "expense_categories.yaml",
        'gl_account: {id: 6120, number: "6120"}',
        'gl_account: "6120"',
        "categories.Meals.gl_account: should be a mapping of keys to values (got '6120')",
        id="wrong type: scalar for mapping",
    ),
    pytest.param(
        "legal_entities.yaml",
        "    name: Northwind Advisory Ltd\n",
        "    name: [Northwind, Advisory]\n",
        "entities.UK01.name: should be non-empty text (got a list)",
        id="wrong type: list for text",
    ),
    pytest.param(
        "legal_entities.yaml",
        "subsidiary_id: 3\n    currency: GBP\n    currency_id: 2\n    country: GB\n"
        "    time_zone: Europe/London\n    closed_period_policy: hold",
        "subsidiary_id: 3\n    currency: GBP\n    currency_id: 2\n    country: GB\n"
        "    time_zone: Europe/London\n    closed_period_policy: skip",
        "entities.UK01.closed_period_policy: 'skip' is not one of hold, next_open",
        id="bad enum value",
    ),
    pytest.param(
        "service_items.yaml",
        "Consultant: {psa_role_id: 1002}",
        "Consultant: {psa_role_id: 1001}",
        "roles.Consultant.psa_role_id: '1001' is also the psa_role_id of roles.Analyst",
        id="duplicate source id",
    ),
    pytest.param(
        "expense_categories.yaml",
        "  Meals:\n",
        "  Lodging:\n",
        "categories.Lodging: duplicate key (lines 17 and 21); YAML would silently keep only "
        "the last",
        id="duplicate source code (YAML key)",
    ),
    pytest.param(
        "dimensions.yaml",
        "OPS: {name: Operations,",
        "OPS: {name: Technology,",
        "practices.OPS.name: 'Technology' is also the name of practices.TECH",
        id="duplicate source name",
    ),
    pytest.param(
        "legal_entities.yaml",
        "subsidiary_id: 4",
        "subsidiary_id: 3",
        "entities.AU01.subsidiary_id: '3' is also the subsidiary_id of entities.UK01",
        id="two entities, one subsidiary",
    ),
    pytest.param(
        "gl_accounts.yaml",
        "  AU01: {}",
        "  AU01: {}\n  DE01: {}",
        "entities.DE01: no legal entity DE01 in legal_entities.yaml (known: US01, UK01, AU01)",
        id="dangling entity reference",
    ),
    pytest.param(
        "service_items.yaml",
        "  DATA: {item:",
        "  LEGAL: {item:",
        "service_lines.LEGAL: no practice LEGAL in dimensions.yaml",
        id="dangling practice reference",
    ),
    pytest.param(
        "service_items.yaml",
        "  DATA: {item: {id: 5, code: PS-DATA}}\n",
        "",
        "service_lines.DATA: missing (every practice in dimensions.yaml needs a service item)",
        id="practice without a service item",
    ),
    pytest.param(
        "legal_entities.yaml",
        '"75.00"',
        '"-5.00"',
        "entities.US01.receipt_threshold: must not be negative (got -5.00)",
        id="negative threshold",
    ),
    pytest.param(
        "legal_entities.yaml",
        '"75.00"',
        "seventy-five",
        "entities.US01.receipt_threshold: should be a decimal amount like '75.00' "
        "(got 'seventy-five')",
        id="threshold not a number",
    ),
    pytest.param(
        "legal_entities.yaml",
        "currency: GBP",
        "currency: Sterling",
        "entities.UK01.currency: 'Sterling' is not an ISO 4217 currency code",
        id="currency not ISO 4217",
    ),
    pytest.param(
        "legal_entities.yaml",
        "time_zone: Australia/Sydney",
        "time_zone: Australia/Sidney",
        "entities.AU01.time_zone: 'Australia/Sidney' is not an IANA time zone",
        id="unknown time zone",
    ),
    pytest.param(
        "legal_entities.yaml",
        "  AU01:",
        "  au01:",
        "entities.au01: 'au01' is not a code",
        id="bad entity code",
    ),
    pytest.param(
        "gl_accounts.yaml",
        "  UK01: {}",
        '  UK01: {cost_clearing: {id: 5000, number: "5000"}}',
        "entities.UK01.cost_clearing: account 5000 is also labour_cost",
        id="journal debits and credits one account",
    ),
    pytest.param(
        "gl_accounts.yaml",
        "  UK01: {}",
        '  UK01: {labour_cost: {id: 5000, number: "5001"}}',
        "entities.UK01.labour_cost.number: '5001', but account id 5000 is number '5000' at "
        "gl_accounts.yaml defaults.labour_cost",
        id="one account id, two numbers",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "expected"), FAULTS)
def test_each_fault_is_named_by_file_key_and_problem(
    folder: Path, file: str, old: str, new: str, expected: str
) -> None:
    edit(folder, file, old, new)
    assert_reported(folder, file, expected)


def test_a_yaml_syntax_error_names_the_file_and_line(folder: Path) -> None:
    edit(folder, "dimensions.yaml", "TECH: {name: Technology,", "TECH: {name: [Technology,")

    [problem] = problems_of(folder)
    line = next(
        n
        for n, text in enumerate((folder / "dimensions.yaml").read_text().splitlines(), 1)
        if "[Technology" in text
    )
    assert problem.startswith(f"{folder / 'dimensions.yaml'}: line {line}, column ")
    assert "YAML syntax error" in problem


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        ("- STRAT\n- TECH\n", "should be a mapping with the keys practices, departments"),
    ],
    ids=["empty", "not a mapping"],
)
def test_a_file_of_the_wrong_shape_is_named(folder: Path, content: str, expected: str) -> None:
    (folder / "dimensions.yaml").write_text(content)
    assert_reported(folder, "dimensions.yaml", expected)


def test_a_missing_file_is_named(folder: Path) -> None:
    (folder / "service_items.yaml").unlink()
    assert_reported(folder, "service_items.yaml", "file not found")


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="nowhere: not a directory"):
        load_mappings(tmp_path / "nowhere")


def test_every_problem_in_every_file_is_reported_at_once(folder: Path) -> None:
    edit(folder, "legal_entities.yaml", '"75.00"', '"-1"')
    edit(folder, "gl_accounts.yaml", '  labour_cost: {id: 5000, number: "5000"}', "")
    edit(folder, "expense_categories.yaml", "psa_category_id: 8", "psa_category_id: 7")
    edit(folder, "dimensions.yaml", "erp_department_id: 1}", "erp_department_id: 0}")

    problems = problems_of(folder)

    assert len(problems) == 6, problems
    assert sum("labour_cost: missing" in p for p in problems) == 3
    assert sum("receipt_threshold" in p for p in problems) == 1
    assert sum("psa_category_id: '7' is also" in p for p in problems) == 1
    assert sum("departments.STRAT.erp_department_id" in p for p in problems) == 1


def test_repository_files_are_named_relative_to_the_repository() -> None:
    assert load_mappings().directory == MAPPINGS_DIR
    with pytest.raises(UnmappedCodeError, match=r" include/mappings/legal_entities\.yaml "):
        load_mappings().entity("XX01")


def test_check_prints_ok_for_good_mappings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: include/mappings: 3 legal entities")


def test_check_exits_1_and_prints_every_problem(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(folder, "legal_entities.yaml", "closed_period_policy: hold", "closed_period_policy: skip")
    edit(folder, "gl_accounts.yaml", "  AU01: {}", "  AU01: {}\n  DE01: {}")

    assert main(["check", str(folder)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("2 problems in the mappings:\n")
    assert f"{folder / 'legal_entities.yaml'}: entities.US01.closed_period_policy: 'skip'" in err
    assert f"{folder / 'gl_accounts.yaml'}: entities.DE01: no legal entity DE01" in err


def test_check_runs_as_a_module(folder: Path) -> None:
    edit(folder, "service_items.yaml", "psa_role_id: 1002", "psa_role_id: 1001")

    result = subprocess.run(
        [sys.executable, "-m", "ps_sync.mappings", "check", str(folder)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )

    assert result.returncode == 1
    assert "roles.Consultant.psa_role_id: '1001' is also the psa_role_id" in result.stderr
