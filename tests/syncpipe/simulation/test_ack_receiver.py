"""The simulator's ack endpoint: keeps well-signed acks by eventId, refuses and counts the rest."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from schemas.canonical import signed_headers
from syncpipe.simulation.ack_receiver import AckReceiver, serving_acks

ACK = {"eventId": "e1", "interface": "tenantSync", "tenantId": "t1", "status": "applied", "resultCode": "000000"}


@pytest.fixture
def receiver(access_key: str) -> AckReceiver:
    return AckReceiver(access_key)


@pytest.fixture
async def url(receiver: AckReceiver) -> AsyncIterator[str]:
    async with serving_acks(receiver, "127.0.0.1", 0) as base:
        yield f"{base}/platform/acks"


async def post(url: str, body: Any, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession() as session, session.post(url, data=body, headers=headers) as answer:
        return answer.status


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_a_signed_ack_is_kept_by_event_id(receiver: AckReceiver, url: str, access_key: str) -> None:
    duplicate = {**ACK, "status": "duplicate"}
    assert await post(url, json.dumps(ACK), signed_headers(access_key, "n1", now_ms(), ACK)) == 200
    assert await post(url, json.dumps(duplicate), signed_headers(access_key, "n2", now_ms(), duplicate)) == 200

    assert receiver.received == 2
    assert receiver.first_status("e1") == "applied"
    assert [ack["status"] for ack in receiver.acks["e1"]] == ["applied", "duplicate"]
    assert receiver.bad_signatures == 0


@pytest.mark.parametrize(
    "case",
    ["wrong key", "stale timestamp", "tampered body", "no headers", "not json", "no eventId"],
)
async def test_anything_not_signed_right_is_refused_and_counted(
    receiver: AckReceiver, url: str, access_key: str, case: str
) -> None:
    body, headers = json.dumps(ACK), signed_headers(access_key, "n1", now_ms(), ACK)
    if case == "wrong key":
        headers = signed_headers("another-key", "n1", now_ms(), ACK)
    elif case == "stale timestamp":
        headers = signed_headers(access_key, "n1", now_ms() - 61_000, ACK)
    elif case == "tampered body":
        body = json.dumps({**ACK, "status": "stale"})
    elif case == "no headers":
        headers = {}
    elif case == "not json":
        body = "{"
    elif case == "no eventId":
        no_id = {key: value for key, value in ACK.items() if key != "eventId"}
        body, headers = json.dumps(no_id), signed_headers(access_key, "n1", now_ms(), no_id)

    assert await post(url, body, headers) in (400, 401)
    assert (receiver.bad_signatures, receiver.received, receiver.acks) == (1, 0, {})


async def test_a_replayed_nonce_is_refused(receiver: AckReceiver, url: str, access_key: str) -> None:
    headers = signed_headers(access_key, "same", now_ms(), ACK)
    assert await post(url, json.dumps(ACK), headers) == 200
    assert await post(url, json.dumps(ACK), headers) == 401
    assert (receiver.received, receiver.bad_signatures) == (1, 1)


async def test_waiting_ends_when_the_last_ack_arrives_or_at_the_timeout(
    receiver: AckReceiver, url: str, access_key: str
) -> None:
    assert await receiver.wait_for(["e1", "e2"], timeout_s=0.05) == {"e1", "e2"}
    await post(url, json.dumps(ACK), signed_headers(access_key, "n1", now_ms(), ACK))
    started = time.monotonic()
    assert await receiver.wait_for(["e1"], timeout_s=30) == set()
    assert time.monotonic() - started < 1
