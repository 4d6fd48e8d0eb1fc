"""Requests that break off or break HTTP: a sender leaving mid-body is no answer (its own counter, no
ERROR), malformed HTTP is refused in the SPEC §3 shape without quoting it (a WARNING, no traceback),
and no answer names the server's software."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re

import pytest

from runtime.ops_server import Metrics
from tests.gateway.conftest import RunningGateway, StartGateway

# What aiohttp's own refusal quotes back, and what must never reach the sender or the log: control bytes.
_OFFENDING = b"X-Evil: a\x01<script>forged</script>"


async def metric(gateway: RunningGateway, name: str, **labels: str) -> float:
    async with gateway.client.get("/metrics") as response:
        text = await response.text()
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    match = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(match[1]) if match else 0.0


async def raw_exchange(gateway: RunningGateway, request: bytes, *, close_after_s: float | None = None) -> bytes:
    """Send `request` on a connection of its own; what the server answers (or, with `close_after_s`, hang
    up that long after sending, reading nothing)."""
    port = gateway.client.port
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        if close_after_s is not None:
            await asyncio.sleep(close_after_s)
            return b""
        async with asyncio.timeout(5):
            return await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@pytest.fixture
async def metered(start_gateway: StartGateway) -> RunningGateway:
    return await start_gateway(metrics=Metrics())


@pytest.mark.parametrize("interface", ["allOrgSync", "tenantSync"])
async def test_a_sender_leaving_mid_body_is_no_answer_and_no_error(
    metered: RunningGateway, caplog: pytest.LogCaptureFixture, interface: str
) -> None:
    head = f"POST /produceAPI/v2/{interface} HTTP/1.1\r\nHost: gateway\r\nContent-Length: 100000\r\n"
    raw, headers = metered.sign({"tenantId": "t-gone"})
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    with caplog.at_level(logging.INFO):
        await raw_exchange(metered, head.encode() + b"\r\n" + raw[:10], close_after_s=0.1)
        for _ in range(50):  # the handler notices the connection gone on its next read
            if await metric(metered, "syncpipe_gateway_calls_abandoned_total", interface=interface):
                break
            await asyncio.sleep(0.02)
    assert await metric(metered, "syncpipe_gateway_calls_abandoned_total", interface=interface) == 1
    assert await metric(metered, "syncpipe_gateway_calls_total", interface=interface, result_code="000005") == 0
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING], caplog.text
    assert "Traceback" not in caplog.text
    assert "the sender left before its body arrived" in caplog.text
    assert metered.published == []


@pytest.mark.parametrize(
    ("request_bytes", "reason"),
    [
        pytest.param(
            b"POST /produceAPI/v2/tenantSync HTTP/1.1\r\n" + _OFFENDING + b"\r\n\r\n", "header", id="bad-header"
        ),
        pytest.param(
            b"POST /produceAPI/v2/tenantSync HTTP/1.1\r\nX-Big: " + b"<script>" * 2000 + b"\r\n\r\n",
            "too long",
            id="oversized-header",
        ),
        pytest.param(
            b"POST /produceAPI/v2/tenantSync HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked, <script>\r\n\r\n",
            "invalid `Transfer-Encoding` header value",
            id="bad-transfer-encoding",
        ),
        pytest.param(
            b"POST /produceAPI/v2/tenantSync HTTP/1.1\r\nHost: g\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
            "duplicate Content-Length",
            id="two-lengths",
        ),
        pytest.param(b"P<script>OST / HTTP/1.1\r\n\r\n", "not an HTTP request", id="bad-method"),
        pytest.param(
            b"POST /produceAPI/v2/tenantSync HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n<script>\r\n",
            "invalid character in chunk size",
            id="bad-chunk",
        ),
    ],
)
async def test_malformed_http_is_refused_in_the_contracts_shape_without_quoting_it(
    metered: RunningGateway, caplog: pytest.LogCaptureFixture, request_bytes: bytes, reason: str
) -> None:
    with caplog.at_level(logging.DEBUG, logger="aiohttp"), caplog.at_level(logging.INFO):
        answer = await raw_exchange(metered, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert re.match(rb"HTTP/1\.[01] 400 ", head), answer[:300]
    assert b"content-type: application/json" in head.lower()
    refusal = json.loads(body)
    assert set(refusal) == {"resultCode", "resultMsg"}
    assert refusal["resultCode"] == "000002"
    assert refusal["resultMsg"].startswith("request: malformed HTTP")
    assert reason in refusal["resultMsg"]
    assert b"script" not in body
    assert "Traceback" not in caplog.text
    assert "script" not in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR], caplog.text
    assert metered.published == []


async def test_no_answer_names_the_servers_software(metered: RunningGateway) -> None:
    raw, headers = metered.sign({"tenantId": "t-server"})
    for method, path in [("POST", "/produceAPI/v2/tenantSync"), ("GET", "/healthz"), ("GET", "/nowhere")]:
        async with metered.client.request(method, path, data=raw, headers=headers) as response:
            assert response.headers["Server"] == "syncpipe", (path, response.headers)
    answer = await raw_exchange(metered, b"GET / HTTP/1.1\r\n" + _OFFENDING + b"\r\n\r\n")
    assert b"\r\nServer: syncpipe\r\n" in answer
    assert b"aiohttp" not in answer.lower()
    assert b"python" not in answer.lower()
