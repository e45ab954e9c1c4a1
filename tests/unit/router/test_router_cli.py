"""`xf route` and `xf rules test|explain|diff`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from router_helpers import xf

CASE = {
    "case_id": "XF-150627-2026-000001",
    "received_at": "2026-05-06T10:00:00+08:00",
    "channel": "visit",
    "received_by": "150627107:gov",
    "category": "wage_arrears",
    "location": {"region": "150627107"},
    "petitioner_key": "pk-0000000001",
    "people_count": 1,
}


def write_case(tmp_path: Path, body: object, name: str = "case.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(body, ensure_ascii=False))
    return path


def test_route_prints_the_decision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = xf("route", str(write_case(tmp_path, CASE)), "--rules", "rules")
    decision = json.loads(capsys.readouterr().out)
    assert code == 0
    assert decision["disposition"] == "forward" and decision["handling_unit"] == "150627:hrss"
    assert decision["trace"][0] == "competence.wage_arrears" and decision["ruleset_version"].startswith("sha256:")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"people_count": 0}, "people_count"),
        ({"channel": "fax"}, "channel"),
        ({"location": {"region": "12"}}, "location.region"),
        ({"location": {"region": "159999999"}}, "location.region"),
        ({"received_by": "150627:nosuch"}, "received_by"),
    ],
)
def test_route_rejects_malformed_cases_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, object], field: str
) -> None:
    code = xf("route", str(write_case(tmp_path, {**CASE, **change})), "--rules", "rules")
    assert code == 2
    assert f"{field}:" in capsys.readouterr().err


def test_route_rejects_invalid_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    assert xf("route", str(path), "--rules", "rules") == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_rules_test_passes_with_full_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    code = xf("rules", "test", "--rules", "rules", "--require-coverage")
    out = capsys.readouterr().out
    assert code == 0, out
    assert " 0 failed" in out
    total = out.split("coverage: ")[1].split(" ")[0]
    exercised, rules = total.split("/")
    assert exercised == rules


def test_rules_test_shows_a_failure_with_its_trace(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (rules_copy / "tests" / "broken.yaml").write_text(
        "cases:\n"
        "  - name: expects the wrong unit\n"
        "    case: {received_by: '150627107:gov', category: wage_arrears, location: '150627107'}\n"
        "    expect: {handling_unit: '150600:hrss'}\n"
    )
    code = xf("rules", "test", "--rules", str(rules_copy))
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL rules/tests/broken.yaml:2 expects the wrong unit" in out
    assert "handling_unit: expected '150600:hrss', got '150627:hrss'" in out
    assert "trace: competence.wage_arrears → placement.matter → disposition.forward" in out
    assert "1 failed" in out


def test_rules_test_reports_uncovered_rules(rules_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in (rules_copy / "tests").glob("*.yaml"):
        if path.name != "disposition.yaml":
            path.unlink()
    assert xf("rules", "test", "--rules", str(rules_copy), "--require-coverage") == 1
    out = capsys.readouterr().out
    assert "not exercised: rules/tables/urgency.yaml:" in out and "urgency.sensitive_collective" in out


def test_explain_shows_each_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert xf("rules", "explain", str(write_case(tmp_path, CASE)), "--rules", "rules") == 0
    out = capsys.readouterr().out
    assert out.startswith("case XF-150627-2026-000001: forward → 150627:hrss (county)")
    assert "[disposition] hit policy first" in out
    assert "✗  disposition.concluded  concluded is false, rule wants concluded = true" in out
    assert "✗  disposition.handle  competent_is_receiver is false, rule wants competent_is_receiver = true" in out
    assert "✓  disposition.forward  matched: otherwise (default rule)" in out
    assert "✗  placement.own_conduct  has_target is false, rule wants has_target = true" in out
    assert "WARNING" not in out


def test_explain_accepts_a_rule_test_reference(capsys: pytest.CaptureFixture[str]) -> None:
    assert xf("rules", "explain", "rules/tests/disposition.yaml:7", "--rules", "rules") == 0
    out = capsys.readouterr().out
    assert "✓  disposition.concluded" in out
    assert "·  disposition.merge  not evaluated (an earlier rule matched)" in out


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_diff_lists_changed_decisions(rules_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = rules_copy.parent
    git(repo, "init", "-q")
    git(repo, "add", "rules")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "rules")
    flags = rules_copy / "tables" / "flags.yaml"
    flags.write_text(flags.read_text().replace('people_count: {">=": 5}', 'people_count: {">=": 4}'))
    recorded = tmp_path / "recorded.jsonl"
    recorded.write_text(
        json.dumps({**CASE, "case_id": "REC-4", "people_count": 4})
        + "\n"
        + json.dumps({**CASE, "case_id": "REC-1"})
        + "\n"
    )
    code = xf("rules", "diff", "--against", "HEAD", "--rules", str(rules_copy), "--cases", str(recorded))
    out = capsys.readouterr().out
    assert code == 0
    assert "REC-4 (recorded.jsonl):" in out
    assert '    flags: ["first_time"] → ["first_time", "collective"]' in out
    assert '    urgency: "normal" → "urgent"' in out
    assert "REC-1 " not in out
    assert "four people are not a collective visit" in out  # a rule test's case changes too
    assert "decisions change" in out
