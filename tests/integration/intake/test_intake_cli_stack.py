"""`xf intake` against the real store: clients and keys as an operator manages them, and re-encrypting
personal data under a new vault key."""

from __future__ import annotations

import base64
import hashlib

from intake_helpers import case_body, connected, headers, http, unique_name
from intake_helpers import xf_intake as xf

from services.access import registry
from services.common.settings import Settings
from services.intake.privacy import Vault, key_id_of, open_personal


async def test_an_operator_adds_lists_rotates_and_revokes_clients(intake_stack: Settings) -> None:
    settings = intake_stack
    name = unique_name("desk")
    added = xf("client", "add", name, "--role", "reception", "--channel", "visit,letter", "--submit", "150627",
               "--read", "150627", "--note", "first-floor desk")  # fmt: skip
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    assert key.startswith("xfk_")

    listed = xf("client", "list")
    assert listed.returncode == 0 and name in listed.stdout and "first-floor desk" in listed.stdout
    assert key not in listed.stdout and key.split("_")[1] in listed.stdout  # the key id, never the key

    async with http(settings) as client:
        accepted = await client.post("/v1/cases", json=case_body("visit"), headers=headers(key))
    assert accepted.status_code == 201, accepted.text

    rotated = xf("key", "add", name)
    assert rotated.returncode == 0, rotated.stderr
    second = rotated.stdout.strip().splitlines()[-1]
    assert xf("key", "revoke", key.split("_")[1]).returncode == 0
    assert xf("client", "revoke", "no-such-client").returncode == 1
    async with http(settings) as client:
        old = await client.post("/v1/cases", json=case_body("visit"), headers=headers(key))
        new = await client.post("/v1/cases", json=case_body("visit"), headers=headers(second))
    assert (old.status_code, new.status_code) == (401, 201)

    assert xf("client", "revoke", name).returncode == 0
    async with http(settings) as client:
        revoked = await client.post("/v1/cases", json=case_body("visit"), headers=headers(second))
    assert revoked.status_code == 401

    refused = xf("client", "add", unique_name("ops"), "--role", "operator", "--channel", "visit", "--read", "159999")
    assert refused.returncode == 2 and "operator reads only" in refused.stderr and "159999" in refused.stderr


async def test_an_operator_adds_rotates_and_removes_a_partner_s_signing_key(intake_stack: Settings) -> None:
    name = unique_name("erp")
    assert xf("client", "add", name, "--role", "upstream", "--channel", "all", "--submit", "150627").returncode == 0
    assert xf("client", "signing-key", "add", "no-such-client").returncode == 1
    added = xf("client", "signing-key", "add", name)
    assert added.returncode == 0, added.stderr
    first = added.stdout.strip().splitlines()[1]
    assert first.startswith("xfsk_") and len(first) > 40
    listed = xf("client", "list")
    assert "signing key since" in listed.stdout and first not in listed.stdout  # shown once, never listed

    rotated = xf("client", "signing-key", "rotate", name, "--grace-hours", "1")
    assert rotated.returncode == 0, rotated.stderr
    second = rotated.stdout.strip().splitlines()[1]
    async with connected(intake_stack) as conn:
        assert (await registry.signing_partners(conn, [name]))[name].keys == (second, first)  # during the grace
    assert xf("client", "signing-key", "rotate", name, "--grace-hours", "0").returncode == 0
    async with connected(intake_stack) as conn:
        assert len((await registry.signing_partners(conn, [name]))[name].keys) == 1  # the old one no longer

    removed = xf("client", "signing-key", "remove", name)
    assert removed.returncode == 0, removed.stderr
    assert xf("client", "signing-key", "remove", name).returncode == 1
    async with connected(intake_stack) as conn:
        assert await registry.signing_partners(conn, [name]) == {}


# A fixed test key, so that a second run on the same store can read what the first one wrote.
TEST_KEY = "itrot:" + base64.b64encode(hashlib.sha256(b"intake rotation test key").digest()).decode()


async def test_vault_rotation_re_encrypts_every_case_under_the_new_key(intake_stack: Settings) -> None:
    settings = intake_stack
    async with http(settings) as client:
        answer = await client.post("/v1/cases", json=case_body("letter"), headers=headers(settings.intake_dev_api_key))
    case_id = answer.json()["case_id"]
    forward = f"{TEST_KEY},{settings.vault_keys}"
    back = f"{settings.vault_keys},{TEST_KEY}"  # and back again: the store is left as it was found
    for keys in (forward, back):
        rotated = xf("vault-rotate", "--batch", "200", env={"XF_VAULT_KEYS": keys})
        assert rotated.returncode == 0, rotated.stderr
        vault = Vault.from_spec(keys)
        async with connected(settings) as conn:
            stale = await conn.fetchval(
                "SELECT count(*) FROM cases WHERE split_part(personal, ':', 2) <> $1", vault.current_key_id
            )
            token = await conn.fetchval("SELECT personal FROM cases WHERE case_id = $1", case_id)
        assert stale == 0 and key_id_of(token) == vault.current_key_id
        assert open_personal(vault, token, case_id=case_id).petitioner.kind == "person"
