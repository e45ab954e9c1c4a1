"""`xf deadlines TIMELINE.json --at ISO-8601 [--rules DIR]`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tracker_helpers import DATA, RULES, xf


def test_prints_the_contract_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = xf("deadlines", str(DATA / "standard_full.json"), "--at", "2026-10-14T12:00:00+08:00", "--rules", str(RULES))
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out == json.loads((DATA / "standard_full.expected.json").read_text(encoding="utf-8"))
    assert set(out) == {"case_id", "stages"}
    for stage in out["stages"]:
        assert set(stage) == {"stage", "started_at", "due_date", "due_at", "completed_at", "status"}
    assert [s["status"] for s in out["stages"]] == ["met", "met", "met", "met", "late", "due_soon"]


def test_assignment_and_urgent_samples(capsys: pytest.CaptureFixture[str]) -> None:
    assert xf("deadlines", str(DATA / "assignment.json"), "--at", "2026-10-14T12:00:00+08:00") == 0
    stages = {s["stage"]: s for s in json.loads(capsys.readouterr().out)["stages"]}
    assert stages["assignment_report"]["due_date"] == "2026-09-30"
    assert stages["assignment_report"]["status"] == "late"
    assert stages["route"]["due_date"] == "2026-10-08"  # 5 Oct falls in National Day
    assert stages["handle"]["due_date"] == "2026-12-11"  # 60 + 20 extension days
    assert xf("deadlines", str(DATA / "urgent.json"), "--at", "2026-03-05T18:00:00+08:00") == 0
    stages = {s["stage"]: s for s in json.loads(capsys.readouterr().out)["stages"]}
    assert stages["urgent_report"]["due_at"] == "2026-03-05T16:00:00+08:00"
    assert stages["urgent_report"]["status"] == "met"


def test_at_without_offset_is_deployment_local_time(capsys: pytest.CaptureFixture[str]) -> None:
    assert xf("deadlines", str(DATA / "standard_full.json"), "--at", "2026-05-07T12:00") == 0
    stages = json.loads(capsys.readouterr().out)["stages"]
    assert [(s["stage"], s["status"]) for s in stages] == [("route", "open")]


def test_utc_input_is_printed_in_local_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps({"case_id": "C", "received_at": "2026-05-05T16:30:00Z", "channel": "online", "events": []})
    )
    assert xf("deadlines", str(path), "--at", "2026-05-06T00:00:00Z") == 0
    (route,) = json.loads(capsys.readouterr().out)["stages"]
    assert route["started_at"] == "2026-05-06T00:30:00+08:00"
    assert route["due_date"] == "2026-05-21"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_missing_case_id.json", "case_id: Field required"),
        ("bad_replied_before_accepted.json", "events[1] (replied): needs accepted first"),
    ],
)
def test_bad_timelines_exit_2_naming_the_field(name: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert xf("deadlines", str(DATA / name), "--at", "2026-10-14T12:00:00+08:00") == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('{"case_id": "C", "received_at": "2026-05-06T09:00:00+08:00", "channel": "fax"}', "channel: Input should be"),
        (
            '{"case_id": "C", "received_at": "2026-05-06T09:00:00", "channel": "letter"}',
            "received_at: Input should have timezone",
        ),
        (
            '{"case_id": "C", "received_at": "2026-05-06T09:00:00+08:00", "channel": "letter",'
            ' "events": [{"type": "accepted"}, {"type": "bogus", "at": "2026-05-07T09:00:00+08:00"}]}',
            "events[0].at: Field required",
        ),
        ('{"case_id": "C", ', ":1: invalid JSON"),
    ],
)
def test_field_errors(tmp_path: Path, body: str, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.json"
    path.write_text(body)
    assert xf("deadlines", str(path), "--at", "2026-10-14T12:00:00+08:00") == 2
    assert message in capsys.readouterr().err


def test_bad_at_unknown_policy_and_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert xf("deadlines", str(DATA / "standard_full.json"), "--at", "yesterday") == 2
    assert "--at: not an ISO-8601" in capsys.readouterr().err
    assert xf("deadlines", str(DATA / "standard_full.json"), "--at", "2026-10-14", "--policy", "nope") == 2
    assert "unknown deadline policy 'nope'" in capsys.readouterr().err
    assert xf("deadlines", str(tmp_path / "missing.json"), "--at", "2026-10-14") == 2
    assert "cannot read" in capsys.readouterr().err
    assert xf("deadlines", str(DATA / "standard_full.json"), "--at", "2026-10-14", "--rules", str(tmp_path)) == 2
    assert "rules:" in capsys.readouterr().err
