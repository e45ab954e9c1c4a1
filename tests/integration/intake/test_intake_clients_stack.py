"""services.access.registry on the real PostgreSQL, in a scratch schema of its own: the development client
switched on and off, and the rules an operator runs into."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from intake_helpers import scratch_store

from services.access import registry
from services.access.scopes import Client, ClientSpecInvalid
from services.common.schemas import CHANNELS
from services.common.settings import Settings

DEV_KEY = "xfk_dev_a-development-key-for-tests"
DEV_SIGNING_KEY = "xfsk_a-development-signing-key-for-tests"


@pytest.fixture
async def scratch(intake_stack: Settings) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_store(intake_stack, "clients", max_size=2) as pool:
        yield pool


async def test_the_development_client_comes_and_goes_with_its_setting(scratch: asyncpg.Pool) -> None:
    async with scratch.acquire() as conn:
        await registry.ensure_dev_client(conn, DEV_KEY, DEV_SIGNING_KEY)
        dev = await registry.authenticate(conn, DEV_KEY)
        assert dev is not None and dev.channels == frozenset(CHANNELS) and dev.submit_scope == ("000000",)
        assert (await registry.signing_partners(conn, ["dev"]))["dev"].keys == (DEV_SIGNING_KEY,)
        assert await registry.authenticate(conn, DEV_KEY + "x") is None

        await registry.ensure_dev_client(conn, None)
        assert await registry.authenticate(conn, DEV_KEY) is None
        assert await registry.signing_partners(conn, ["dev"]) == {}  # its signatures are refused too

        await registry.ensure_dev_client(conn, "xfk_dev_another-development-key")
        assert await registry.authenticate(conn, DEV_KEY) is None
        assert await registry.authenticate(conn, "xfk_dev_another-development-key") is not None
        with pytest.raises(ClientSpecInvalid):
            await registry.ensure_dev_client(conn, "xfk_other_key-with-the-wrong-id")


async def test_clients_keep_their_names_and_revoked_ones_get_no_keys(scratch: asyncpg.Pool) -> None:
    desk = Client("desk-1", "reception", frozenset({"visit"}), ("150627",), ("150627",))
    async with scratch.acquire() as conn:
        key = await registry.create_client(conn, desk, note="ground floor")
        assert await registry.authenticate(conn, key.token) == desk
        assert key.token not in str(await conn.fetch("SELECT * FROM api_keys"))  # only its hash is stored
        with pytest.raises(registry.ClientExists):
            await registry.create_client(conn, desk)
        with pytest.raises(ClientSpecInvalid):
            await registry.create_client(conn, Client("ops", "operator", frozenset({"visit"})))
        assert await registry.revoke_client(conn, "desk-1")
        assert not await registry.revoke_client(conn, "desk-1")
        with pytest.raises(registry.UnknownClient):
            await registry.issue_key(conn, "desk-1")
        (info,) = await registry.list_clients(conn)
        assert info.revoked_at is not None and info.keys[0].revoked_at is not None and info.note == "ground floor"
