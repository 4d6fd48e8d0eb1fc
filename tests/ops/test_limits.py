"""Limits that keep a slow or hostile sender from holding the servers' connections or memory."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import zlib

import pytest
from pydantic import SecretStr

from gateway.app import serve_gateway
from read_api import serve_api
from runtime.ops_server import Metrics, OpsServer, Readiness
from runtime.settings import Settings
from syncpipe.embedded.process import free_port
from tests.gateway.conftest import StartGateway
from tests.gateway.platform import sample_body
from tests.running import running

# Short, so the test is quick; the default is 75 s.
_KEEPALIVE_S = 1.0
# A sender dribbling one header byte this often would hold the connection forever without a bound.
_DRIBBLE_EVERY_S = 0.1


async def seconds_until_disconnected(port: int, request_line: bytes, give_up_s: float = 10.0) -> float:
    """Send `request_line` and then header bytes one at a time, slowly; how long until the server hangs up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()

    async def dribble() -> None:
        writer.write(request_line + b"Host: syncpipe\r\n")
        with contextlib.suppress(ConnectionError):
            while True:
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(_DRIBBLE_EVERY_S)

    sender = asyncio.create_task(dribble())
    try:
        async with asyncio.timeout(give_up_s):
            with contextlib.suppress(ConnectionError):
                while await reader.read(1024):
                    pass  # anything the server says before it hangs up (nothing is expected)
        return time.monotonic() - started
    finally:
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def assert_cut_off_after_the_keepalive(elapsed_s: float) -> None:
    # Not at once (something else would be at work), and not long after the bound.
    assert _KEEPALIVE_S * 0.9 <= elapsed_s <= _KEEPALIVE_S + 1.5, elapsed_s


@pytest.mark.integration
async def test_a_gateway_sender_dribbling_its_headers_is_disconnected(settings: Settings) -> None:
    settings = settings.model_copy(update={"gateway_port": free_port(), "http_keepalive_timeout_s": _KEEPALIVE_S})
    async with running(lambda ready, stop: serve_gateway(settings, ready), graceful=False):
        elapsed = await seconds_until_disconnected(
            settings.gateway_port, b"POST /produceAPI/v2/tenantSync HTTP/1.1\r\n"
        )
    assert_cut_off_after_the_keepalive(elapsed)


@pytest.mark.integration
async def test_a_read_api_client_dribbling_its_headers_is_disconnected(database_url: str) -> None:
    settings = Settings(
        database_url=SecretStr(database_url),
        api_token=SecretStr(secrets.token_urlsafe(16)),
        api_port=free_port(),
        http_keepalive_timeout_s=_KEEPALIVE_S,
    )
    async with running(lambda ready, stop: serve_api(settings, ready), graceful=False):
        elapsed = await seconds_until_disconnected(settings.api_port, b"GET /v1/tenants/t-1 HTTP/1.1\r\n")
    assert_cut_off_after_the_keepalive(elapsed)


async def test_an_ops_port_client_dribbling_its_headers_is_disconnected() -> None:
    settings = Settings(http_keepalive_timeout_s=_KEEPALIVE_S)
    async with OpsServer(settings, free_port(), Metrics(), Readiness()) as server:
        elapsed = await seconds_until_disconnected(server.port, b"GET /metrics HTTP/1.1\r\n")
    assert_cut_off_after_the_keepalive(elapsed)


async def test_an_idle_kept_alive_connection_is_closed_after_the_keepalive() -> None:
    settings = Settings(http_keepalive_timeout_s=_KEEPALIVE_S)
    async with OpsServer(settings, free_port(), Metrics(), Readiness()) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: syncpipe\r\n\r\n")
        started = time.monotonic()
        async with asyncio.timeout(10):
            answered = await reader.readuntil(b"\r\n\r\n")
            assert answered.startswith(b"HTTP/1.1 200")
            while await reader.read(1024):
                pass
        writer.close()
    assert_cut_off_after_the_keepalive(time.monotonic() - started)


@pytest.mark.parametrize(
    ("extra_headers", "status"),
    [
        ({"X-Big": "x" * 9000}, 431),  # one header line past aiohttp's 8190 bytes
        ({f"X-Many-{n}": "x" for n in range(200)}, 431),  # past aiohttp's 128 headers
    ],
)
async def test_oversized_headers_are_refused_before_the_handler(
    start_gateway: StartGateway, extra_headers: dict[str, str], status: int
) -> None:
    gateway = await start_gateway()
    raw, headers = gateway.sign(sample_body("tenantSync", "t-1"))
    async with gateway.client.post(
        "/produceAPI/v2/tenantSync", data=raw, headers={**headers, **extra_headers}
    ) as response:
        assert response.status in (400, status)
    assert gateway.published == []


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        ("gzip", b"this is not gzip"),
        ("deflate", b"\x00\x01\x02 nor deflate"),
        ("gzip", zlib.compress(b'{"tenantId": "t-1"}')[:-4]),  # a zlib stream cut short, labelled gzip
    ],
)
async def test_a_body_whose_content_encoding_does_not_decode_is_000002(
    start_gateway: StartGateway, encoding: str, body: bytes
) -> None:
    gateway = await start_gateway()
    _, headers = gateway.sign(sample_body("tenantSync", "t-1"))
    headers = {**headers, "Content-Encoding": encoding}
    async with gateway.client.post("/produceAPI/v2/tenantSync", data=body, headers=headers) as response:
        assert response.status == 200
        answer = await response.json()
    assert answer["resultCode"] == "000002"
    assert answer["resultMsg"].startswith("body:")
    assert gateway.published == []


def test_settings_refuse_a_budget_smaller_than_one_full_sync() -> None:
    with pytest.raises(ValueError, match="GATEWAY_MAX_IN_FLIGHT_BYTES"):
        Settings(max_full_sync_bytes=2048, gateway_max_in_flight_bytes=1024)


def test_settings_refuse_a_client_share_smaller_than_one_full_sync() -> None:
    """A client's first call is not verified while it arrives: its share must hold the largest body."""
    with pytest.raises(ValueError, match="GATEWAY_MAX_UNVERIFIED_BYTES_PER_CLIENT"):
        Settings(max_full_sync_bytes=2048, gateway_max_unverified_bytes_per_client=1024)
