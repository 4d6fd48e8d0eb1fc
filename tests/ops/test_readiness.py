"""/readyz follows the dependencies: it fails while Postgres or the broker is down, and passes again once
they are back; /healthz stays 200 throughout (the process itself is fine, restarting it would not help)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator

import aiohttp
import pytest
from pydantic import SecretStr

from read_api import serve_api
from runtime.ops_server import Metrics, ops_endpoint, started
from runtime.postgres.migrate import migrate_url
from runtime.settings import Settings
from syncpipe.embedded import EmbeddedKafka, EmbeddedPostgres
from syncpipe.embedded.process import free_port
from tests.running import running

pytestmark = pytest.mark.integration

# Probes time out after 1 s and are cached for 1 s; a dependency's outage shows within a few seconds.
_FLIP_TIMEOUT_S = 20.0


@pytest.fixture
def postgres() -> Iterator[EmbeddedPostgres]:
    """A cluster of this test's own: it is stopped and restarted."""
    with EmbeddedPostgres(durable=False) as cluster:
        yield cluster


@pytest.fixture
def kafka() -> Iterator[EmbeddedKafka]:
    """A broker of this test's own: it is stopped and started again on the same port."""
    broker = EmbeddedKafka()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def status_of(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str]]:
    async with http.get(url) as response:
        body = await response.json()
        return response.status, body.get("checks", {})


async def until_status(http: aiohttp.ClientSession, url: str, wanted: int) -> dict[str, str]:
    deadline = time.monotonic() + _FLIP_TIMEOUT_S
    while True:
        status, checks = await status_of(http, url)
        if status == wanted:
            return checks
        assert time.monotonic() < deadline, f"{url} still answers {status} ({checks}), not {wanted}"
        await asyncio.sleep(0.2)


async def test_readiness_flips_with_postgres(postgres: EmbeddedPostgres) -> None:
    await migrate_url(postgres.dsn)
    settings = Settings(
        database_url=SecretStr(postgres.dsn),
        api_token=SecretStr(secrets.token_urlsafe(16)),
        api_port=free_port(),
        acker_ops_port=free_port(),
    )
    component = asyncio.Event()
    component.set()
    api = f"http://127.0.0.1:{settings.api_port}"
    acker_ops = f"http://127.0.0.1:{settings.acker_ops_port}"
    async with (
        running(lambda ready, stop: serve_api(settings, ready), graceful=False),
        ops_endpoint(
            settings, settings.acker_ops_port, Metrics(), {"acker": started(component)}, postgres=True, kafka=False
        ),
        aiohttp.ClientSession() as http,
    ):
        assert await until_status(http, f"{api}/readyz", 200) == {"postgres": "ok"}
        assert await until_status(http, f"{acker_ops}/readyz", 200) == {"acker": "ok", "postgres": "ok"}

        postgres.stop(remove=False)
        assert await until_status(http, f"{api}/readyz", 503) == {"postgres": "failing"}
        assert await until_status(http, f"{acker_ops}/readyz", 503) == {"acker": "ok", "postgres": "failing"}
        for base in (api, acker_ops):
            assert (await status_of(http, f"{base}/healthz"))[0] == 200

        postgres.restart()
        assert await until_status(http, f"{api}/readyz", 200) == {"postgres": "ok"}
        assert await until_status(http, f"{acker_ops}/readyz", 200) == {"acker": "ok", "postgres": "ok"}


async def test_readiness_flips_with_the_broker_and_the_component(kafka: EmbeddedKafka, database_url: str) -> None:
    settings = Settings(
        kafka_bootstrap_servers=kafka.bootstrap_servers,
        database_url=SecretStr(database_url),
        worker_ops_port=free_port(),
    )
    component = asyncio.Event()
    worker_ops = f"http://127.0.0.1:{settings.worker_ops_port}"
    components = {"worker": started(component)}
    async with (
        ops_endpoint(settings, settings.worker_ops_port, Metrics(), components, postgres=True, kafka=True),
        aiohttp.ClientSession() as http,
    ):
        # Not ready until the worker said it started, even with every dependency up.
        assert await until_status(http, f"{worker_ops}/readyz", 503) == {
            "worker": "failing",
            "postgres": "ok",
            "kafka": "ok",
        }
        component.set()
        await until_status(http, f"{worker_ops}/readyz", 200)

        kafka.stop()
        assert (await until_status(http, f"{worker_ops}/readyz", 503))["kafka"] == "failing"

        kafka.start()
        assert await until_status(http, f"{worker_ops}/readyz", 200) == {
            "worker": "ok",
            "postgres": "ok",
            "kafka": "ok",
        }
