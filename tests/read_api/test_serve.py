"""`serve_api` as `syncpipe api` runs it: migrate, bind, serve real HTTP until cancelled, then let go."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
import asyncpg
import pytest
from pydantic import SecretStr

from read_api import serve_api
from read_api.exceptions import ApiNotConfigured
from runtime.settings import Settings
from tests.read_api.free_port import free_port
from tests.read_api.seed import insert_tenant

# The embedded Postgres answers in milliseconds; this only bounds a hang.
START_TIMEOUT_S = 30.0


async def test_serve_api_answers_over_http_until_cancelled(database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    settings = Settings(database_url=SecretStr(database_url), api_port=port, api_token=SecretStr("s3cret-token"))
    ready = asyncio.Event()
    server = asyncio.create_task(serve_api(settings, ready))
    try:
        await asyncio.wait_for(ready.wait(), START_TIMEOUT_S)
        db = await asyncpg.connect(database_url)
        try:
            await insert_tenant(db, "t-smoke")  # the schema is there: serve_api migrated it
        finally:
            await db.close()
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthz") as response:
                assert (response.status, await response.json()) == (200, {"status": "ok"})
            async with session.get(f"{base}/v1/tenants/t-smoke") as response:
                assert response.status == 401
            headers = {"Authorization": "Bearer s3cret-token"}
            async with session.get(f"{base}/v1/tenants/t-smoke", headers=headers) as response:
                assert response.status == 200
                assert (await response.json())["tenantId"] == "t-smoke"
    finally:
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server
    assert server.cancelled()
    with pytest.raises(ConnectionRefusedError):  # the port is released
        await asyncio.open_connection("127.0.0.1", port)
    # No aiohttp access log; one structured DEBUG line per request, naming the route, not the raw path.
    assert not [record for record in caplog.records if record.name == "aiohttp.access"]
    lines = [record for record in caplog.records if record.name == "read_api.requests"]
    assert [(line.levelno, line.getMessage()) for line in lines][-1] == (
        logging.DEBUG,
        "GET /v1/tenants/{tenantId} 200",
    )
    assert getattr(lines[-1], "status", None) == 200


async def test_serve_api_refuses_to_start_without_a_token(database_url: str) -> None:
    settings = Settings(database_url=SecretStr(database_url), api_token=None)
    with pytest.raises(ApiNotConfigured, match="SYNCPIPE_API_TOKEN"):
        await serve_api(settings)


async def test_serve_api_refuses_to_start_without_a_database() -> None:
    settings = Settings(database_url=None, api_token=SecretStr("s3cret-token"))
    with pytest.raises(ApiNotConfigured, match="DATABASE_URL"):
        await serve_api(settings)
