"""The sync calls' defences hold on the instance route too (SPEC §9, the same gateway): a sender leaving
mid-body is no answer and no error, malformed HTTP is answered in the contract's shape, and its
`timestamp` has one spelling (a `0` moved from the nonce's end to the timestamp's front is no new nonce).
Its bodies count in the one in-flight budget as their bytes arrive and in their client's unverified
share: test_in_flight_budget.py tests that on both routes."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.gateway.conftest import INSTANCE_KEY, RunningGateway
from tests.gateway.platform import post_instance_call, signed_instance
from tests.gateway.stalled_senders import CHANGE
from tests.gateway.test_broken_requests import metric, raw_exchange


async def test_an_instance_sender_leaving_mid_body_is_no_answer_and_no_error(
    small_limits: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    raw, query = signed_instance(INSTANCE_KEY, CHANGE, timestamp_ms=int(small_limits.clock.now * 1000))
    target = "/?" + "&".join(f"{name}={value}" for name, value in query.items())
    head = f"POST {target} HTTP/1.1\r\nHost: gateway\r\nContent-Length: 10000\r\n\r\n"
    with caplog.at_level(logging.INFO):
        await raw_exchange(small_limits, head.encode() + raw[:10], close_after_s=0.1)
        for _ in range(50):  # the handler notices the connection gone on its next read
            if await metric(small_limits, "syncpipe_gateway_calls_abandoned_total", interface="unknown"):
                break
            await asyncio.sleep(0.02)
    assert await metric(small_limits, "syncpipe_gateway_calls_abandoned_total", interface="unknown") == 1
    assert await metric(small_limits, "syncpipe_gateway_calls_total", interface="unknown", result_code="000005") == 0
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING], caplog.text
    assert "Traceback" not in caplog.text
    assert small_limits.published == []


async def test_malformed_http_on_the_instance_route_is_answered_in_the_contracts_shape(
    small_limits: RunningGateway,
) -> None:
    answer = await raw_exchange(small_limits, b"POST /?timestamp=1 HTTP/1.1\r\nX-Evil: a\x01<script>\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"400"
    assert b'"resultCode": "000002"' in body
    assert b"<script>" not in answer


async def test_an_instance_timestamp_with_a_leading_zero_is_refused(small_limits: RunningGateway) -> None:
    now_ms = int(small_limits.clock.now * 1000)
    raw, query = signed_instance(INSTANCE_KEY, CHANGE, timestamp_ms=now_ms)
    status, answer = await post_instance_call(small_limits.client, raw, {**query, "timestamp": f"0{now_ms}"})
    assert (status, answer["resultCode"]) == (200, "000002")
    assert answer["resultMsg"].startswith("timestamp: not a number")
    assert "leading zeros" in answer["resultMsg"]


async def test_a_zero_moved_from_the_nonce_to_the_timestamp_is_no_new_nonce(small_limits: RunningGateway) -> None:
    """The signed message runs nonce and timestamp together: a captured call whose nonce ends in 0,
    sent again with that 0 moved to the front of its timestamp, carries the same signature."""
    now_ms = int(small_limits.clock.now * 1000)
    raw, query = signed_instance(INSTANCE_KEY, CHANGE, nonce="captured-nonce-0", timestamp_ms=now_ms)
    assert (await post_instance_call(small_limits.client, raw, query))[1]["resultCode"] == "000000"
    moved = {**query, "nonce": "captured-nonce-", "timestamp": f"0{now_ms}"}
    status, answer = await post_instance_call(small_limits.client, raw, moved)
    assert (status, answer["resultCode"]) == (200, "000002"), answer
    assert len(small_limits.published) == 1
