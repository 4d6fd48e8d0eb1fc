"""An in-process gateway on a real HTTP server, with a recording publisher instead of Kafka."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from gateway.app import build_app
from gateway.client_secret import ClientSecretChecker
from gateway.verification import SignatureVerifier
from runtime.ops_server import Metrics
from runtime.settings import Settings
from tests.gateway.fakes import FakeInstanceDirectory, RecordingPublisher
from tests.gateway.platform import post_call, signed
from tests.running import ServedLikeAProcess

GatewayClient = TestClient[web.Request, web.Application]


class FixedClock:
    """A clock that stands still unless a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class RunningGateway:
    """A gateway under test, and the platform's side of it: signing and posting calls."""

    client: GatewayClient
    publisher: RecordingPublisher
    clock: FixedClock
    access_key: str

    @property
    def published(self) -> list[Any]:
        return self.publisher.published

    def sign(
        self, body: dict[str, Any] | bytes, *, key: str | None = None, **options: Any
    ) -> tuple[bytes, dict[str, str]]:
        """Signed with the test's access key (or `key`) at the clock's time (or `timestamp_ms`)."""
        options.setdefault("timestamp_ms", int(self.clock.now * 1000))
        return signed(key if key is not None else self.access_key, body, **options)

    async def post(self, interface: str, raw: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        return await post_call(self.client, interface, raw, headers)


class StartGateway(Protocol):
    def __call__(self, **overrides: Any) -> Awaitable[RunningGateway]: ...


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(time.time())


@pytest.fixture
def gateway_settings(access_key: str) -> Settings:
    """Settings without any service: the gateway under test never reaches Kafka."""
    return Settings(access_keys=(access_key,))  # type: ignore[arg-type]


@pytest.fixture
async def start_gateway(gateway_settings: Settings, clock: FixedClock, access_key: str) -> AsyncIterator[StartGateway]:
    """Start gateways on free ports; keyword overrides replace build_app's arguments."""
    clients: list[GatewayClient] = []

    async def start(**overrides: Any) -> RunningGateway:
        settings = overrides.pop("settings", gateway_settings)
        arguments: dict[str, Any] = {
            "settings": settings,
            "publisher": RecordingPublisher(),
            "verifier": SignatureVerifier.from_settings(settings, clock=clock),
            "secret_checker": ClientSecretChecker(None),
            **overrides,
        }
        client: GatewayClient = TestClient(ServedLikeAProcess(build_app(**arguments)))
        await client.start_server()
        clients.append(client)
        return RunningGateway(client, arguments["publisher"], clock, access_key)

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def gateway(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway()


INSTANCE_KEY = "instance-key-0123456789"
# A short produce timeout: the longest a body waits for room in the in-flight budget before its 000005.
PRODUCE_TIMEOUT_S = 2.0

# Four bodies of 64 KiB (the largest instance call, here the largest full sync too), one per unproven client.
SMALL_LIMITS = {
    "max_full_sync_bytes": 64 * 1024,
    "gateway_max_in_flight_bytes": 4 * 64 * 1024,
    "gateway_max_unverified_bytes_per_client": 64 * 1024,
}


async def limited_gateway(start_gateway: StartGateway, access_key: str, **limits: int) -> RunningGateway:
    """A gateway taking both routes' calls (signed with `access_key`, or INSTANCE_KEY), with a short
    produce timeout and the settings `limits` in place of the defaults."""
    settings = Settings(
        access_keys=(access_key,),  # type: ignore[arg-type]
        instance_access_keys=(INSTANCE_KEY,),  # type: ignore[arg-type]
        produce_timeout_s=PRODUCE_TIMEOUT_S,
        **limits,  # type: ignore[arg-type]
    )
    return await start_gateway(settings=settings, instance_directory=FakeInstanceDirectory(), metrics=Metrics())


@pytest.fixture
async def small_limits(start_gateway: StartGateway, access_key: str) -> RunningGateway:
    """A gateway with SMALL_LIMITS and a short produce timeout."""
    return await limited_gateway(start_gateway, access_key, **SMALL_LIMITS)
