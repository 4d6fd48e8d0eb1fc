"""Inputs at the edges of what can be stored get 000002 naming the field, never 000005.

000005 tells the platform "not stored, try again": for a call that can never be stored it would
retry forever. Each case here once escaped validation as an exception (OverflowError, RecursionError,
pydantic's serialisation limit) and was answered 000005.
"""

from __future__ import annotations

import json

import pytest

from tests.gateway.conftest import RunningGateway
from tests.gateway.platform import sample_body

TENANT = "t-edge"


async def post_body(gateway: RunningGateway, interface: str, raw: bytes) -> tuple[int, dict[str, str]]:
    raw, headers = gateway.sign(raw)
    return await gateway.post(interface, raw, headers)


async def assert_refused(gateway: RunningGateway, interface: str, raw: bytes, message: str) -> None:
    assert await post_body(gateway, interface, raw) == (200, {"resultCode": "000002", "resultMsg": message})
    assert gateway.published == []


@pytest.mark.parametrize(
    ("interface", "field"), [("tenantSync", "timeStamp"), ("authSync", "timeStamp"), ("authSync", "currentSyncTime")]
)
@pytest.mark.parametrize("text", ["00010101000000000", "00010101075959999"])
async def test_a_time_before_the_first_utc_instant_is_named(
    gateway: RunningGateway, interface: str, field: str, text: str
) -> None:
    raw = json.dumps(sample_body(interface, TENANT, **{field: text})).encode()
    await assert_refused(gateway, interface, raw, f"{field}: out of range: the earliest time is 00010101080000000")


@pytest.mark.parametrize(("text", "reason"), [("00000101000000000", "year 0"), ("20261301000000000", "month")])
async def test_a_time_out_of_range_is_named(gateway: RunningGateway, text: str, reason: str) -> None:
    status, answer = await post_body(
        gateway, "tenantSync", json.dumps(sample_body("tenantSync", TENANT, timeStamp=text)).encode()
    )
    assert (status, answer["resultCode"]) == (200, "000002")
    assert answer["resultMsg"].startswith("timeStamp: ")
    assert reason in answer["resultMsg"]


@pytest.mark.parametrize("text", ["00010101080000000", "99991231235959999"])
async def test_the_extreme_times_are_accepted(gateway: RunningGateway, text: str) -> None:
    body = sample_body("authSync", TENANT, timeStamp=text, currentSyncTime=text)
    status, answer = await post_body(gateway, "authSync", json.dumps(body).encode())
    assert (status, answer["resultCode"]) == (200, "000000"), answer
    assert [envelope.timeStamp for envelope in gateway.published] == [text]
