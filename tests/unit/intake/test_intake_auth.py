from __future__ import annotations

from datetime import datetime

import pytest
from intake_factories import submission

from services.access.keys import hash_secret, key_from_token, new_key, parse_key_id, secret_matches
from services.access.scopes import (
    Client,
    ClientSpecInvalid,
    case_readable,
    check_client,
    region_prefix,
    subtree_filter,
    subtree_in_scope,
    unit_in_scope,
)
from services.common.regions import official_regions
from services.intake.auth import source_matches, submission_refusals
from services.intake.validation import validate_submission

DESK = Client("desk-1", "reception", frozenset({"visit", "letter"}), ("150627",), ("150627",))


def test_a_new_key_verifies_and_only_its_hash_is_kept() -> None:
    key = new_key()
    assert key.token.startswith(f"xfk_{key.key_id}_") and len(key.token) > 50
    assert parse_key_id(key.token) == key.key_id
    assert key.token not in key.secret_hash and key.secret_hash.startswith("sha256:")
    assert secret_matches(key.token, key.secret_hash)
    assert not secret_matches(key.token[:-1] + ("A" if key.token[-1] != "A" else "B"), key.secret_hash)
    assert new_key().token != key.token
    assert key.token not in repr(key) or key.secret_hash not in repr(key)


@pytest.mark.parametrize(
    "token", ["", "xfk_", "xfk_abc", "xfk_ABC_secretsecretsecret", "Bearer xfk_abc_x", "xfk_abc_short", "x" * 300]
)
def test_malformed_keys_have_no_key_id(token: str) -> None:
    assert parse_key_id(token) is None


def test_the_development_key_comes_from_the_settings() -> None:
    key = key_from_token("xfk_dev_dev-only-intake-key-change-me")
    assert key.key_id == "dev" and key.secret_hash == hash_secret("xfk_dev_dev-only-intake-key-change-me")
    with pytest.raises(ClientSpecInvalid):
        key_from_token("not-a-key")


@pytest.mark.parametrize(
    ("region", "prefix"),
    [("000000", ""), ("150000", "15"), ("150600", "1506"), ("150627", "150627"), ("150627107", "150627107")],
)
def test_region_prefix(region: str, prefix: str) -> None:
    assert region_prefix(region) == prefix


def test_region_prefixes_agree_with_the_official_tree() -> None:
    tree = official_regions()
    roots = [region.code for region in tree.descendants("150000") if region.level in ("province", "city", "county")]
    roots += ["110000", "110100", "441900", "429000", "000000"]
    for code in (region.code for region in tree.descendants("000000")):
        if not code.startswith(("15", "11", "44", "42")):
            continue
        for root in roots:
            if root in tree:
                assert code.startswith(region_prefix(root)) == tree.is_within(code, root), (code, root)


def test_scopes_are_region_subtrees_or_single_units() -> None:
    scope = ("150627", "150600:hrss")
    assert unit_in_scope("150627:petition", scope)
    assert unit_in_scope("150627107:gov", scope)
    assert unit_in_scope("150627107201:committee", scope)
    assert unit_in_scope("150600:hrss", scope)
    assert not unit_in_scope("150600:petition", scope)
    assert not unit_in_scope("150602:petition", scope)
    assert unit_in_scope("110101:gov", ("000000",))
    assert subtree_in_scope("150627107:gov", scope)
    assert not subtree_in_scope("150600:hrss", scope)  # a unit entry is that unit only


def test_subtree_filters() -> None:
    assert subtree_filter("150627:hrss", False).prefix is None
    hrss = subtree_filter("150600:hrss", True)
    assert (hrss.prefix, hrss.department) == ("1506", "hrss")
    bureau = subtree_filter("150627:petition", True)
    assert (bureau.prefix, bureau.department) == ("150627", None)
    assert subtree_filter("000000:petition", True).prefix == ""


def test_submission_refusals_name_channel_and_unit(now: datetime) -> None:
    allowed = validate_submission(submission(channel="visit"), now=now)
    assert submission_refusals(DESK, allowed) == []
    wrong = validate_submission(submission(channel="online", received_by="150602:petition"), now=now)
    refusals = submission_refusals(DESK, wrong)
    assert [(e.field, e.code) for e in refusals] == [
        ("channel", "channel_forbidden"),
        ("received_by", "unit_forbidden"),
    ]
    assert "网上信访" in refusals[0].message_zh and "150602:petition" in refusals[1].message_en
    operator = Client("ops", "operator", read_scope=("150627",))
    assert [(e.field, e.code) for e in submission_refusals(operator, allowed)] == [("X-API-Key", "role_forbidden")]


def test_who_may_read_a_case() -> None:
    assert case_readable(DESK, submitted_by="someone-else", units=["150627:petition", None])
    assert case_readable(DESK, submitted_by="desk-1", units=["150602:petition"])
    assert not case_readable(DESK, submitted_by="someone-else", units=["150602:petition", "150602:hrss"])
    hrss = Client("ops", "operator", read_scope=("150627:hrss",))
    assert case_readable(hrss, submitted_by="x", units=["150627:petition", "150627:hrss"])
    assert not case_readable(hrss, submitted_by="x", units=["150627:petition", None])


def test_a_source_pattern_matches_exactly_or_by_prefix() -> None:
    assert source_matches("erp/150627", "erp/150627") and not source_matches("erp/150627", "erp/150627-2")
    assert source_matches("erp/*", "erp/150602") and source_matches("*", "anything")
    assert not source_matches("erp/*", "intruder/erp")


def test_client_specs_are_checked() -> None:
    known = official_regions().__contains__
    check_client(DESK, known_region=known)
    with pytest.raises(ClientSpecInvalid) as bad:
        check_client(
            Client("Bad Name", "operator", frozenset({"fax"}), ("15062",), ("999999",), sources=("x",)),
            known_region=known,
        )
    message = str(bad.value)
    for part in ("name", "fax", "operator reads only", "'15062'", "'999999'", "sources"):
        assert part in message
