from __future__ import annotations

import base64
from datetime import datetime

import pytest
from intake_factories import ADDRESS, ID_NUMBER, NAME, PHONE, make_credit_code, make_id_number, submission

from services.intake.privacy import (
    PersonalRecord,
    UnknownVaultKey,
    Vault,
    VaultConfigError,
    VaultDecryptError,
    generate_vault_key,
    is_anonymous_key,
    key_id_of,
    open_personal,
    petitioner_key,
    redact,
    seal_personal,
)
from services.intake.submission import Anonymous, Organisation, Person
from services.intake.validation import validate_submission

KEY = b"test-pseudonym-key-0123456789abcdef"
OTHER_KEY = b"another-pseudonym-key-0123456789ab"


def _person(**fields: str) -> Person:
    return Person.model_validate({"kind": "person", "name": NAME, **fields})


def test_pseudonym_of_identity_number_is_stable_and_keyed() -> None:
    petitioner = _person(id_number=ID_NUMBER, phone=PHONE)
    first = petitioner_key(KEY, petitioner)
    assert first == petitioner_key(KEY, petitioner)
    assert first.startswith("p1_") and len(first) == 3 + 64
    assert first != petitioner_key(OTHER_KEY, petitioner)
    for raw in (ID_NUMBER, PHONE, NAME, ID_NUMBER[:6] + ID_NUMBER[6:14]):
        assert raw not in first


def test_identity_number_wins_over_name_and_phone() -> None:
    with_phone = petitioner_key(KEY, _person(id_number=ID_NUMBER, phone=PHONE))
    other_name = petitioner_key(
        KEY, Person.model_validate({"kind": "person", "name": "别名", "id_number": ID_NUMBER.lower()})
    )
    assert with_phone == other_name
    assert with_phone != petitioner_key(KEY, _person(id_number=make_id_number(seq="124")))


def test_phone_and_name_when_no_identity_number() -> None:
    key = petitioner_key(KEY, _person(phone="+86 139 1234 5678"))
    assert key == petitioner_key(KEY, Person.model_validate({"kind": "person", "name": f" {NAME} ", "phone": PHONE}))
    assert key != petitioner_key(KEY, Person.model_validate({"kind": "person", "name": "测试乙", "phone": PHONE}))
    assert PHONE not in key


def test_name_and_address_for_letters() -> None:
    key = petitioner_key(KEY, _person(address=ADDRESS))
    assert key == petitioner_key(KEY, _person(address=ADDRESS.replace("3号楼", " 3号楼 ")))
    assert not is_anonymous_key(key)


def test_organisation_by_credit_code_then_name() -> None:
    by_code = Organisation.model_validate(
        {"kind": "organisation", "organisation_name": "甲公司", "credit_code": make_credit_code()}
    )
    renamed = Organisation.model_validate(
        {"kind": "organisation", "organisation_name": "甲公司（更名）", "credit_code": make_credit_code()}
    )
    assert petitioner_key(KEY, by_code) == petitioner_key(KEY, renamed)
    by_name = Organisation.model_validate({"kind": "organisation", "organisation_name": "甲公司"})
    assert petitioner_key(KEY, by_name) == petitioner_key(KEY, by_name)
    assert petitioner_key(KEY, by_name) != petitioner_key(KEY, by_code)


def test_anonymous_and_name_only_get_a_random_key_per_case() -> None:
    anonymous = Anonymous(kind="anonymous")
    first, second = petitioner_key(KEY, anonymous), petitioner_key(KEY, anonymous)
    assert first != second
    assert is_anonymous_key(first) and first.startswith("a1_")
    name_only = _person()
    assert petitioner_key(KEY, name_only) != petitioner_key(KEY, name_only)


def test_short_pseudonym_key_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        petitioner_key(b"short", _person(id_number=ID_NUMBER))


def _keys(*ids: str) -> str:
    return ",".join(f"{key_id}:{generate_vault_key()}" for key_id in ids)


def test_vault_round_trip() -> None:
    vault = Vault.from_spec(_keys("k1"))
    token = vault.encrypt(ID_NUMBER, context="case-1")
    assert ID_NUMBER not in token
    assert token.startswith("xv1:k1:")
    assert vault.decrypt(token, context="case-1") == ID_NUMBER
    assert vault.encrypt(ID_NUMBER, context="case-1") != token  # fresh nonce every time
    assert vault.decrypt(vault.encrypt("")) == ""


def test_vault_rotation() -> None:
    old_spec = _keys("k1")
    old = Vault.from_spec(old_spec)
    token = old.encrypt("测试甲 13912345678", context="case-9")
    rotated_vault = Vault.from_spec(f"{_keys('k2')},{old_spec}")
    assert rotated_vault.current_key_id == "k2" and rotated_vault.key_ids == ("k2", "k1")
    assert rotated_vault.decrypt(token, context="case-9") == "测试甲 13912345678"
    assert rotated_vault.needs_rotation(token)
    rotated = rotated_vault.rotate(token, context="case-9")
    assert key_id_of(rotated) == "k2" and not rotated_vault.needs_rotation(rotated)
    assert rotated_vault.rotate(rotated, context="case-9") == rotated
    assert rotated_vault.decrypt(rotated, context="case-9") == "测试甲 13912345678"
    with pytest.raises(UnknownVaultKey) as caught:
        old.decrypt(rotated, context="case-9")
    assert caught.value.key_id == "k2"


def test_unknown_key_id() -> None:
    token = Vault.from_spec(_keys("retired")).encrypt("x")
    with pytest.raises(UnknownVaultKey, match="retired"):
        Vault.from_spec(_keys("k1")).decrypt(token)


def test_tampering_and_wrong_context_detected() -> None:
    vault = Vault.from_spec(_keys("k1"))
    token = vault.encrypt("secret", context="case-1")
    head, body = token.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[-1] ^= 1
    tampered = head + ":" + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    with pytest.raises(VaultDecryptError):
        vault.decrypt(tampered, context="case-1")
    with pytest.raises(VaultDecryptError):
        vault.decrypt(token, context="case-2")
    # Same key material under another id: the key id is authenticated too.
    spec = _keys("k1")
    relabelled = Vault.from_spec(spec.replace("k1:", "k9:") + "," + spec)
    with pytest.raises(VaultDecryptError):
        relabelled.decrypt(Vault.from_spec(spec).encrypt("x").replace("xv1:k1:", "xv1:k9:"))
    for garbage in ("", "xv1:k1:", "xv2:k1:AAAA", "plain text", "xv1:k1:!!!!", "xv1:k1:AAAA"):
        with pytest.raises(VaultDecryptError):
            vault.decrypt(garbage)


def test_vault_configuration_from_environment() -> None:
    spec = _keys("k2", "k1")
    vault = Vault.from_env({"XF_VAULT_KEYS": spec})
    assert vault.key_ids == ("k2", "k1")
    urlsafe = "k3:" + base64.urlsafe_b64encode(bytes(range(250, 256)) * 5 + b"\xff\xfe").decode()
    assert Vault.from_spec(urlsafe).current_key_id == "k3"
    for bad in ({}, {"XF_VAULT_KEYS": " "}):
        with pytest.raises(VaultConfigError):
            Vault.from_env(bad)
    for bad_spec in (
        "k1",
        "k1:notbase64!!",
        "k1:" + base64.b64encode(b"too short").decode(),
        f"bad id:{generate_vault_key()}",
        _keys("k1", "k1"),
    ):
        with pytest.raises(VaultConfigError):
            Vault.from_spec(bad_spec)


def test_redact() -> None:
    text = f"来电人身份证{ID_NUMBER}，手机 139-1234-5678，座机0477-8612345，邮箱 a@b.cn，拖欠130000元"
    redacted = redact(text)
    assert redacted == "来电人身份证[id_number]，手机 [phone]，座机[phone]，邮箱 [email]，拖欠130000元"
    assert redact("无个人信息") == "无个人信息"


def test_seal_and_open_personal_data(now: datetime) -> None:
    accepted = validate_submission(submission(), now=now)
    vault = Vault.from_spec(_keys("k1"))
    token = seal_personal(vault, accepted, case_id="XF150627-20260506-000001")
    for raw in (ID_NUMBER, PHONE, NAME, "札萨克镇某工地"):
        assert raw not in token
    record = open_personal(vault, token, case_id="XF150627-20260506-000001")
    assert isinstance(record, PersonalRecord)
    assert record.petitioner == accepted.petitioner
    assert record.location_address == "札萨克镇某工地"
    assert record.content == accepted.content
    with pytest.raises(VaultDecryptError):
        open_personal(vault, token, case_id="XF150627-20260506-000002")
