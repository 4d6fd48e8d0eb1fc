"""The operations endpoints themselves: probes bounded and cached, scrapes that survive a failed refresh,
and the same routes (plus the OpenAPI description) on the gateway, the read API and the ops port."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import Counter

from gateway.app import gateway_runner
from read_api import build_api_app
from runtime.openapi import openapi_document
from runtime.ops_server import METRICS_CONTENT_TYPE, Metrics, OpsServer, Readiness, started
from runtime.postgres.migrate import migrate_url
from runtime.probes import PROBE_TIMEOUT_S
from runtime.settings import Settings
from syncpipe.embedded.process import free_port, port_open
from tests.gateway.conftest import RunningGateway
from tests.ops.scrape import scrape
from tests.ops.test_openapi_routes import gateway_app


async def test_a_hanging_probe_fails_within_its_timeout() -> None:
    async def hangs() -> bool:
        await asyncio.sleep(3600)
        return True

    readiness = Readiness({"stuck": hangs})
    started_at = time.monotonic()
    assert await readiness.check() == {"stuck": False}
    assert time.monotonic() - started_at < PROBE_TIMEOUT_S + 0.5


async def test_a_raising_probe_fails_and_results_are_cached() -> None:
    calls = 0

    async def flaky() -> bool:
        nonlocal calls
        calls += 1
        raise OSError("connection refused")

    readiness = Readiness({"db": flaky})
    for _ in range(5):
        assert await readiness.check() == {"db": False}
    assert calls == 1  # probed once; the next four were answered from the cache


async def test_started_follows_the_event_and_the_task() -> None:
    ready = asyncio.Event()
    task = asyncio.create_task(asyncio.sleep(3600))
    probe = started(ready, task)
    assert not await probe()
    ready.set()
    assert await probe()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not await probe()  # it said ready, then died


async def test_a_failing_refresh_leaves_the_rest_of_the_scrape() -> None:
    metrics = Metrics()
    Counter("syncpipe_test_things", "Things.", registry=metrics.registry).inc(3)

    async def broken() -> None:
        raise RuntimeError("database gone")

    metrics.refresh_on_scrape(broken)
    async with (
        OpsServer(Settings(), free_port(), metrics, Readiness()) as server,
        aiohttp.ClientSession() as http,
    ):
        scraped = await scrape(http, f"http://127.0.0.1:{server.port}/metrics")
    assert scraped.value("syncpipe_test_things_total") == 3


async def test_port_zero_serves_nothing() -> None:
    port = free_port()
    async with OpsServer(Settings(), 0, Metrics(), Readiness()):
        assert not port_open(port)


async def test_the_gateway_serves_the_operations_routes(gateway: RunningGateway) -> None:
    async with gateway.client.get("/healthz") as response:
        assert (response.status, await response.json()) == (200, {"status": "ok"})
    async with gateway.client.get("/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == METRICS_CONTENT_TYPE
        text = await response.text()
    assert 'syncpipe_gateway_calls_total{interface="tenantSync",result_code="000000"} 0.0' in text
    assert "syncpipe_gateway_produce_duration_seconds_bucket" in text
    async with gateway.client.get("/openapi.json") as response:
        assert await response.json() == openapi_document()


@pytest.mark.integration
async def test_the_read_api_serves_the_operations_routes_without_a_token(database_url: str) -> None:
    await migrate_url(database_url)
    async with asyncpg.create_pool(database_url, min_size=1, max_size=2) as pool:
        app = build_api_app(pool, "t0ken")
        async with TestClient(TestServer(app)) as client:
            for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
                async with client.get(path) as response:
                    assert response.status == 200, path
            async with client.get("/readyz") as response:
                assert await response.json() == {"status": "ready", "checks": {"postgres": "ok"}}
            async with client.get("/v1/tenants/t-1") as response:
                assert response.status == 401  # everything else still needs the token


async def test_every_process_says_its_build_and_writes_no_created_series() -> None:
    metrics = Metrics()
    Counter("syncpipe_test_things", "Things counted by this test.", registry=metrics.registry).inc()
    text = (await metrics.exposition()).decode()
    assert 'syncpipe_build_info{python="' in text
    assert "syncpipe_test_things_total 1.0" in text
    assert "_created" not in text


async def test_no_server_writes_an_aiohttp_access_log(caplog: pytest.LogCaptureFixture) -> None:
    """The ops port and the gateway on the runners their processes use (runtime.ops_server.http_runner,
    which the read API and the sign-in service use too): no `aiohttp.access` line at any level."""
    caplog.set_level(logging.DEBUG)
    settings, port = Settings(), free_port()
    runner = gateway_runner(gateway_app(), settings)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        async with OpsServer(settings, free_port(), Metrics(), Readiness()) as ops, aiohttp.ClientSession() as http:
            for url in (f"http://127.0.0.1:{port}/healthz", f"http://127.0.0.1:{ops.port}/healthz"):
                async with http.get(url) as response:
                    assert response.status == 200
            async with http.post(f"http://127.0.0.1:{port}/produceAPI/v2/tenantSync", data=b"{}") as response:
                assert (await response.json())["resultCode"] == "000001"
    finally:
        await runner.cleanup()
    assert [record.getMessage() for record in caplog.records if record.name.startswith("aiohttp.access")] == []
