"""Inputs at the edges of what can be stored get 000002 naming the field, never 000005.

000005 tells the platform "not stored, try again": for a call that can never be stored it would
retry forever. Each case here once escaped validation as an exception (OverflowError, RecursionError,
pydantic's serialisation limit) and was answered 000005.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.settings import Settings
from schemas.envelope import decode_record, encode_event
from schemas.storable import MAX_NESTING
from tests.gateway.conftest import RunningGateway
from tests.gateway.platform import sample_body

TENANT = "t-edge"
TOO_DEEP = f"nested too deeply (more than {MAX_NESTING} levels of objects and lists)"


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


# --- digits: the platform writes times in ASCII digits; int() would read any Unicode digit as one -------

FULL_WIDTH_TIME = "20260105093000123".translate({ord("0") + digit: 0xFF10 + digit for digit in range(10)})


@pytest.mark.parametrize(
    ("interface", "field"), [("tenantSync", "timeStamp"), ("authSync", "timeStamp"), ("authSync", "currentSyncTime")]
)
@pytest.mark.parametrize(
    "text", [FULL_WIDTH_TIME, "\u0662" + "0260105093000123"], ids=["full-width", "one-arabic-indic-digit"]
)
async def test_a_time_in_other_digits_is_named(gateway: RunningGateway, interface: str, field: str, text: str) -> None:
    raw = json.dumps(sample_body(interface, TENANT, **{field: text}), ensure_ascii=False).encode()
    await assert_refused(gateway, interface, raw, f"{field}: expected 17 digits 0-9 (yyyyMMddHHmmssSSS)")


async def test_an_x_timestamp_in_other_digits_is_refused(gateway: RunningGateway) -> None:
    raw, headers = gateway.sign(json.dumps(sample_body("tenantSync", TENANT)).encode())
    in_other_digits = headers["x-timestamp"].translate({ord("0") + digit: 0x0660 + digit for digit in range(10)})
    status, answer = await gateway.post("tenantSync", raw, {**headers, "x-timestamp": in_other_digits})
    assert (status, answer["resultCode"]) == (200, "000001")
    assert (
        answer["resultMsg"]
        == "x-timestamp: malformed, expected Unix time in milliseconds, in decimal without leading zeros"
    )
    assert gateway.published == []


# --- nesting: pydantic serialises no deeper than MAX_NESTING levels, json.loads no deeper than its stack --


def nested(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


async def test_a_call_nested_as_deep_as_a_record_can_hold_is_stored(gateway: RunningGateway) -> None:
    body = sample_body("tenantSync", TENANT, vendorNote=nested(MAX_NESTING - 1))
    status, answer = await post_body(gateway, "tenantSync", json.dumps(body).encode())
    assert (status, answer["resultCode"]) == (200, "000000"), answer
    (envelope,) = gateway.published
    (record,) = encode_event(envelope, Settings().max_record_bytes)  # what the Kafka publisher writes
    assert decode_record(record.key, record.value, record.headers) == envelope


@pytest.mark.parametrize(
    ("interface", "overrides", "field"),
    [
        ("tenantSync", {"vendorNote": nested(MAX_NESTING)}, "vendorNote.0.0…"),
        ("singleOrgSync", {"vendorNote": {"tags": nested(600)}}, "vendorNote.tags.0…"),
        ("allOrgSync", {"orgInfoList": [{"orgCode": "root", "tags": nested(MAX_NESTING - 2)}]}, "orgInfoList.0.tags…"),
        ("allOrgSync", {"orgInfoList": json.dumps([{"orgCode": "root", "tags": nested(300)}])}, "orgInfoList.0.tags…"),
        ("allOrgSync", {"orgInfoList": "[" * 100_000 + "]" * 100_000}, "orgInfoList"),
        ("authSync", {"userList": [{"userName": "ada", "extension": nested(MAX_NESTING)}]}, "userList.0.extension…"),
    ],
)
async def test_a_call_nested_too_deeply_is_named(
    gateway: RunningGateway, interface: str, overrides: dict[str, Any], field: str
) -> None:
    raw = json.dumps(sample_body(interface, TENANT, **overrides)).encode()
    await assert_refused(gateway, interface, raw, f"{field}: {TOO_DEEP}")


# --- orgInfoList sent as a JSON string: refused where a body would be -------------------------------------


@pytest.mark.parametrize(
    ("listed", "reason"),
    [
        ('[{"orgCode": "root", "size": NaN}]', "NaN is not a JSON number"),
        ('[{"orgCode": "root", "size": Infinity}]', "Infinity is not a JSON number"),
        ('[{"orgCode": "root", "size": -Infinity}]', "-Infinity is not a JSON number"),
        ('[{"orgCode": "root", "note": "\\ud800"}]', "unpaired UTF-16 surrogate escape"),
    ],
)
async def test_a_list_string_holding_what_no_body_may_hold_is_named(
    gateway: RunningGateway, listed: str, reason: str
) -> None:
    raw = json.dumps(sample_body("allOrgSync", TENANT, orgInfoList=listed)).encode()
    await assert_refused(gateway, "allOrgSync", raw, f"orgInfoList: string is not a JSON list ({reason})")
