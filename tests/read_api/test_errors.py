"""Every failure is answered as JSON with a fitting status: never a stack trace, never a bare 500 page."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from read_api import build_api_app
from tests.read_api.conftest import ReadApi
from tests.read_api.free_port import free_port

TENANT_ROUTES = ["/v1/tenants/{}", "/v1/tenants/{}/departments", "/v1/tenants/{}/users", "/v1/tenants/{}/applications"]
ALL_ROUTES = [*TENANT_ROUTES, "/v1/events/{}"]


@pytest.mark.parametrize("route", ALL_ROUTES)
async def test_an_id_longer_than_64_characters_is_a_bad_request(api: ReadApi, route: str) -> None:
    status, body = await api.get(route.format("x" * 65))
    assert status == 400
    assert "64" in body["error"]


@pytest.mark.parametrize("route", ALL_ROUTES)
async def test_an_id_of_64_characters_is_looked_up(api: ReadApi, route: str) -> None:
    status, _ = await api.get(route.format("x" * 64))
    assert status in {200, 404}


async def test_an_unknown_route_is_a_json_404(api: ReadApi) -> None:
    status, body = await api.get("/v1/no-such-route")
    assert (status, body) == (404, {"error": "not found"})


async def test_a_wrong_method_is_a_json_405(api: ReadApi) -> None:
    response = await api.client.post("/v1/tenants/t-1", headers={"Authorization": f"Bearer {api.token}"})
    assert response.status == 405
    assert "GET" in response.headers["Allow"]
    assert await response.json() == {"error": "method not allowed"}


async def serve(pool: asyncpg.Pool, token: str) -> AsyncIterator[ReadApi]:
    async with TestClient(TestServer(build_api_app(pool, token))) as client:
        yield ReadApi(client, token)


@pytest.fixture
async def api_without_database(api_token: str) -> AsyncIterator[ReadApi]:
    # min_size=0: the pool is created without connecting; every request then finds no server.
    pool = await asyncpg.create_pool(f"postgresql://nobody@127.0.0.1:{free_port()}/none", min_size=0, max_size=1)
    try:
        async for api in serve(pool, api_token):
            yield api
    finally:
        await pool.close()


@pytest.fixture
async def api_on_unmigrated_database(database_url: str, api_token: str) -> AsyncIterator[ReadApi]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        async for api in serve(pool, api_token):
            yield api
    finally:
        await pool.close()


@pytest.mark.parametrize("route", ALL_ROUTES)
async def test_a_database_outage_is_a_503(api_without_database: ReadApi, route: str) -> None:
    status, body = await api_without_database.get(route.format("t-1"))
    assert status == 503
    assert body == {"error": "database unavailable, try again later"}


async def test_the_health_check_does_not_depend_on_the_database(api_without_database: ReadApi) -> None:
    status, _ = await api_without_database.get("/healthz")
    assert status == 200


@pytest.mark.parametrize("route", ALL_ROUTES)
async def test_an_unexpected_error_is_a_logged_500_without_details(
    api_on_unmigrated_database: ReadApi, route: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="read_api"):
        response = await api_on_unmigrated_database.client.get(
            route.format("t-1"), headers={"Authorization": f"Bearer {api_on_unmigrated_database.token}"}
        )
    assert response.status == 500
    assert await response.json() == {"error": "internal error"}
    assert response.content_type == "application/json"
    [record] = [record for record in caplog.records if record.name.startswith("read_api")]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], asyncpg.UndefinedTableError)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/v1/tenants/t-1", 404), ("/v1/tenants/t-1/users", 200), ("/v1/no-such-route", 404), ("/v1/overview", 200)],
)
async def test_a_v1_answer_is_neither_cached_nor_sniffed(api: ReadApi, path: str, status: int) -> None:
    response = await api.client.get(path, headers={"Authorization": f"Bearer {api.token}"})
    assert response.status == status
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Server"] == "syncpipe"
    unauthorized = await api.client.get(path)
    assert (unauthorized.status, unauthorized.headers["Cache-Control"]) == (401, "no-store")


async def test_malformed_http_is_a_json_400_quoting_nothing(api: ReadApi, caplog: pytest.LogCaptureFixture) -> None:
    port = api.client.port
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /v1/tenants/t-1 HTTP/1.1\r\nHost: api\r\nX-Evil: <script>\x01\r\n\r\n")
    async with asyncio.timeout(5):
        answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b" 400 " in head.split(b"\r\n")[0]
    assert b"\r\nServer: syncpipe\r\n" in head
    assert json.loads(body) == {"error": "malformed HTTP: invalid header value char"}
    assert "Traceback" not in caplog.text
    assert "script" not in caplog.text
