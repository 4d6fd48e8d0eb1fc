"""Where the gateway looks instances up (SPEC §9): the real Postgres, and a database that never answers,
which costs a queryInstance a 000005 within the lookup bound, a newInstance a 000004 (it is stored), and
every other change nothing."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest
from pydantic import SecretStr

from gateway.errors import NotAnswered
from gateway.instance_directory import InstanceEntry, PostgresInstanceDirectory
from runtime.settings import Settings
from schemas.instance_calls import AppInfo, derive_instance_id
from tests.gateway.platform import post_call, post_instance_call, sample_body, signed, signed_instance
from tests.gateway.test_gateway_kafka import running_gateway
from tests.read_api.instance_seed import apply_instance_calls

pytestmark = pytest.mark.integration

LOOKUP_BOUND_S = 0.5
# Far above an answer from memory, far below "hangs": the bound plus a loaded machine's slack.
ANSWER_WITHIN_S = LOOKUP_BOUND_S + 1.5
KEY = "instance-key-for-lookups"


@contextlib.asynccontextmanager
async def silent_database() -> AsyncIterator[int]:
    """A port that accepts connections and never says a word (a database stuck, or a black-holed route)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def refusing_database() -> AsyncIterator[int]:
    """A port nothing listens on (the database stopped, or its host up without it): refused at once."""
    server = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    yield port


@pytest.mark.parametrize("unreachable", [silent_database, refusing_database], ids=["silent", "refusing"])
async def test_an_unreachable_database_costs_queries_a_bounded_000005_and_the_write_path_nothing(
    settings: Settings, unreachable: Callable[[], contextlib.AbstractAsyncContextManager[int]]
) -> None:
    order = ("CS-LOOKUP", "CS-LOOKUP-000001")
    instance = derive_instance_id(*order)
    async with unreachable() as port:
        configured = settings.model_copy(
            update={
                "database_url": SecretStr(f"postgresql://nobody@127.0.0.1:{port}/syncpipe"),
                "instance_access_keys": (SecretStr(KEY),),
                "instance_lookup_timeout_s": LOOKUP_BOUND_S,
            }
        )
        async with running_gateway(configured) as http:

            async def send(body: dict[str, str]) -> tuple[int, str, float]:
                raw, query = signed_instance(KEY, body)
                started = time.monotonic()
                status, answer = await post_instance_call(http, raw, query)
                return status, answer["resultCode"], time.monotonic() - started

            status, code, took = await send({"activity": "queryInstance", "instanceId": instance})
            assert (status, code) == (503, "000005")
            assert took < ANSWER_WITHIN_S
            status, code, took = await send({"activity": "newInstance", "orderId": order[0], "orderLineId": order[1]})
            assert (status, code) == (200, "000004")
            assert took < ANSWER_WITHIN_S
            status, code, _ = await send(
                {"activity": "updateInstanceStatus", "instanceId": instance, "status": "FREEZE"}
            )
            assert (status, code) == (200, "000000")
            # The sync calls never read the database.
            raw, headers = signed(configured.access_key_values()[0], sample_body("tenantSync", "t-lookup"))
            assert (await post_call(http, "tenantSync", raw, headers))[1]["resultCode"] == "000000"


async def test_the_directory_reads_status_and_app_info_password_included(
    db: asyncpg.Connection, migrated_url: str
) -> None:
    order = ("CS-DIR", "CS-DIR-000001")
    instance = derive_instance_id(*order)
    await apply_instance_calls(db, [(0, {"activity": "newInstance", "orderId": order[0], "orderLineId": order[1]})])
    directory = await PostgresInstanceDirectory.open(migrated_url, timeout_s=5.0)
    try:
        assert await directory.lookup([instance, "unknown"]) == {instance: InstanceEntry("provisioning", None)}
        app_info = AppInfo(frontEndUrl="https://app/i", password="pw")
        await db.execute(
            "UPDATE instances SET status = 'ready', app_info = $2::jsonb WHERE instance_id = $1",
            instance,
            app_info.model_dump_json(),
        )
        assert await directory.lookup([instance]) == {instance: InstanceEntry("ready", app_info)}
    finally:
        await directory.close()


async def test_a_database_not_migrated_yet_is_not_answered_like_one_down(database_url: str) -> None:
    directory = await PostgresInstanceDirectory.open(database_url, timeout_s=5.0)
    try:
        with pytest.raises(NotAnswered):
            await directory.lookup([derive_instance_id("CS-X", "1")])
    finally:
        await directory.close()
