"""`xf rules check`: every error kind on a broken copy of the demo rules, with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest
from router_helpers import xf

from services.router.rules import RuleError, load_rules


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    lines = [number for number, line in enumerate(path.read_text().splitlines(), start=1) if needle in line]
    return lines[occurrence - 1]


def check(rules: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = xf("rules", "check", "--rules", str(rules))
    return code, capsys.readouterr().out


def test_demo_rules_pass(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = check(Path("rules"), capsys)
    assert code == 0 and out.startswith("ok:")


def test_unknown_department_in_a_table(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = rules_copy / "tables" / "competence.yaml"
    edit(table, "then: {department: hrss, level: county}", "then: {department: hr, level: county}")
    code, out = check(rules_copy, capsys)
    assert code == 1
    line = line_of(table, "department: hr,")
    assert f"rules/tables/competence.yaml:{line}: competence.wage_arrears: department: unknown department 'hr'" in out


def test_unknown_category_in_a_condition(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = rules_copy / "tables" / "competence.yaml"
    edit(table, "when: {category: education}", "when: {category: schooling}")
    code, out = check(rules_copy, capsys)
    assert code == 1
    line = line_of(table, "schooling")
    assert f"rules/tables/competence.yaml:{line}: competence.education: category: unknown category 'schooling'" in out


def test_unknown_region_and_unit_in_directory(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = rules_copy / "directory.yaml"
    edit(directory, '"150627":\n', '"159999":\n')
    edit(directory, "unit_supervisors: {}", 'unit_supervisors:\n  "150627107:police": "150627:gov"')
    code, out = check(rules_copy, capsys)
    assert code == 1
    assert f"rules/directory.yaml:{line_of(directory, '159999')}: unknown region '159999'" in out
    assert f"rules/directory.yaml:{line_of(directory, '150627107:police')}: unknown unit '150627107:police'" in out


def test_unknown_region_in_scope(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deployment = rules_copy / "deployment.yaml"
    edit(deployment, '- "150000"', '- "150000"\n  - "999999"')
    code, out = check(rules_copy, capsys)
    assert (
        code == 1
        and f"rules/deployment.yaml:{line_of(deployment, '999999')}: unknown region 999999 in scope"
        in out.replace("'", "")
    )


def test_unknown_fact_and_value(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = rules_copy / "tables" / "flags.yaml"
    edit(table, "when: {cross_region: true}", "when: {cross_regoin: true}")
    edit(table, "when: {channel: visit,", "when: {channel: vist,")
    code, out = check(rules_copy, capsys)
    assert code == 1
    assert (
        f"rules/tables/flags.yaml:{line_of(table, 'cross_regoin')}: flags.cross_region: unknown fact 'cross_regoin'"
        in out
    )
    assert f"rules/tables/flags.yaml:{line_of(table, 'vist')}: flags.skip_level: channel: unknown value 'vist'" in out


def test_duplicate_rule_ids(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = rules_copy / "tables" / "flags.yaml"
    edit(table, "id: flags.repeat", "id: flags.first_time")
    code, out = check(rules_copy, capsys)
    assert code == 1
    first, second = line_of(table, "id: flags.first_time", 1), line_of(table, "id: flags.first_time", 2)
    message = f"duplicate rule id 'flags.first_time' (first defined at rules/tables/flags.yaml:{first})"
    assert f"rules/tables/flags.yaml:{second}: {message}" in out


def test_shadowed_rule(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = rules_copy / "tables" / "urgency.yaml"
    edit(table, 'when: {people_count: {">=": 50}}', 'when: {flag_collective: true, people_count: {">=": 50}}')
    edit(table, "id: urgency.mass_collective\n    priority: 20", "id: urgency.mass_collective\n    priority: 45")
    code, out = check(rules_copy, capsys)
    assert code == 1
    line = line_of(table, "id: urgency.mass_collective")
    assert (
        f"rules/tables/urgency.yaml:{line}: rule 'urgency.mass_collective' is shadowed by 'urgency.collective'" in out
    )


def test_overlap_with_conflicting_outcome_under_unique(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = rules_copy / "tables" / "competence.yaml"
    edit(
        table,
        "  - id: competence.default\n",
        "  - id: competence.wage_arrears_big\n"
        '    when: {category: wage_arrears, people_count: {">=": 30}}\n'
        "    then: {department: hrss, level: city}\n"
        "  - id: competence.default\n",
    )
    code, out = check(rules_copy, capsys)
    assert code == 1
    line = line_of(table, "id: competence.wage_arrears_big")
    assert (
        f"rules/tables/competence.yaml:{line}: rule 'competence.wage_arrears_big' overlaps 'competence.wage_arrears'"
        in out
    )
    assert "different outcome under hit policy unique" in out


def test_gap_in_competence(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = rules_copy / "directory.yaml"
    edit(directory, "market, agri, transport, veterans, discipline]", "market, agri, transport, discipline]")  # county
    edit(
        directory,
        "market, agri, transport, veterans, sasac, discipline]\n  city",
        "market, agri, transport, sasac, discipline]\n  city",
    )
    edit(
        directory,
        "market, agri, transport, veterans, sasac, discipline]\n  # Counties",
        "market, agri, transport, sasac, discipline]\n  # Counties",
    )
    code, out = check(rules_copy, capsys)
    assert code == 1
    line = line_of(rules_copy / "tables" / "competence.yaml", "id: competence.veterans")
    assert f"rules/tables/competence.yaml:{line}: gap: category 'veterans' has no competent 'veterans' unit" in out
    assert "1033 town-level region(s) in scope" in out


def test_missing_default_rule(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = rules_copy / "tables" / "deadline.yaml"
    edit(table, "  - id: deadline.standard\n    otherwise: true\n    then: {deadline_policy: standard}\n", "")
    code, out = check(rules_copy, capsys)
    assert code == 1 and "table deadline needs exactly one default rule" in out


def test_deadline_policy_must_exist_when_deadlines_file_is_present(
    rules_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (rules_copy / "deadlines.yaml").write_text("policies:\n  standard: {}\n  urgent: {}\n")
    code, out = check(rules_copy, capsys)
    table = rules_copy / "tables" / "deadline.yaml"
    assert code == 1
    line = line_of(table, "deadline_policy: assignment")
    message = "deadline.assignment: deadline_policy: unknown deadline policy 'assignment'"
    assert f"rules/tables/deadline.yaml:{line}: {message}" in out


def test_invalid_yaml_and_unknown_keys(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(rules_copy / "tables" / "placement.yaml", "hit: first", "hit: first\nrulez: []")
    (rules_copy / "categories.yaml").write_text("categories:\n  a: [unclosed\n")
    code, out = check(rules_copy, capsys)
    assert code == 1
    assert "rules/tables/placement.yaml:4: table placement: unknown key 'rulez'" in out
    assert "rules/categories.yaml:3: invalid YAML" in out


def test_load_rules_refuses_broken_rules_with_file_line_messages(rules_copy: Path) -> None:
    edit(rules_copy / "tables" / "flags.yaml", "id: flags.repeat", "id: flags.first_time")
    with pytest.raises(RuleError) as error:
        load_rules(rules_copy)
    assert str(error.value).startswith("rules/tables/flags.yaml:")
