"""Reading and validating instance calls (SPEC §9): the body map, each activity's fields, instance ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.exceptions import InvalidCall
from schemas.instance_body import read_instance_body
from schemas.instance_calls import (
    AppInfo,
    NewInstance,
    QueryInstance,
    RefreshInstance,
    derive_instance_id,
    instance_of,
    issued_here,
    parse_instance_call,
)
from schemas.instance_envelope import (
    InstanceEnvelope,
    decode_instance_record,
    encode_instance_event,
    instance_event_id,
    is_instance_record,
)
from tests.schemas.instance_vectors import ALL


def refused(raw: str | bytes) -> InvalidCall:
    with pytest.raises(InvalidCall) as caught:
        parse_instance_call(read_instance_body(raw.encode() if isinstance(raw, str) else raw))
    return caught.value


def test_values_keep_their_source_text_nulls_are_dropped_and_the_last_duplicate_wins() -> None:
    body = read_instance_body(
        b'{"a": 12.780, "b": 1.5E2, "c": true, "d": null, "e": "x", "e": "y", "f": "1", "f": null}'
    )
    assert body == {"a": "12.780", "b": "1.5E2", "c": "true", "e": "y"}


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        (b'{"activity": "newInstance", "x": {"a": 1}}', "x", "is an object"),
        (b'{"activity": "newInstance", "x": [1]}', "x", "is a list"),
        (b"[1]", "body", "must be a JSON object"),
        (b'{"a": NaN}', "body", "not valid JSON"),
        (b"\xff{}", "body", "UTF-8"),
        (b'{"a": "\\ud800"}', "a", "surrogate"),
        (b'{"a": "x\\u0000"}', "a", "NUL"),
    ],
)
def test_what_has_no_string_form_is_refused_naming_its_key(raw: bytes, field: str, words: str) -> None:
    error = refused(raw)
    assert (error.field, words in error.reason) == (field, True), error


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"orderId": "o"}, "activity", "missing"),
        ({"activity": "deleteInstance"}, "activity", "unknown activity"),
        ({"activity": "x" * 33}, "activity", "longer than 32"),
        ({"activity": "newInstance", "orderId": "o"}, "orderLineId", "missing"),
        ({"activity": "newInstance", "orderId": "o" * 65, "orderLineId": "l"}, "orderId", "at most 64"),
        ({"activity": "newInstance", "orderId": "o", "orderLineId": "l", "testFlag": "2"}, "testFlag", "'0' or '1'"),
        ({"activity": "updateInstanceStatus", "instanceId": "i", "status": "PAUSE"}, "status", "FREEZE"),
        (
            {"activity": "refreshInstance", "instanceId": "i", "scene": "S" * 33, "orderId": "o", "orderLineId": "l"},
            "scene",
            "at most 32",
        ),
        (
            {
                "activity": "refreshInstance",
                "instanceId": "i",
                "scene": "RENEWAL",
                "orderId": "o",
                "orderLineId": "l",
                "expireTime": "20261332000000",
            },
            "expireTime",
            "not a date",
        ),
        ({"activity": "queryInstance", "instanceId": ",".join(f"i{n}" for n in range(101))}, "instanceId", "100"),
        ({"activity": "queryInstance", "instanceId": " , "}, "instanceId", "no instance id"),
    ],
)
def test_a_bad_field_is_refused_naming_it(body: dict[str, Any], field: str, words: str) -> None:
    error = refused(json.dumps(body))
    assert error.field == field
    assert words in error.reason, error.reason


def test_every_reference_body_validates_as_its_activity() -> None:
    for vector in ALL:
        call = parse_instance_call(read_instance_body(vector.body.encode()))
        assert call.kind == vector.activity, vector.case


def test_a_query_lists_up_to_100_ids_trimmed_and_deduplicated() -> None:
    call = parse_instance_call({"activity": "queryInstance", "instanceId": "a, b ,a,,c"})
    assert isinstance(call, QueryInstance)
    assert call.ids == ["a", "b", "c"]
    hundred = parse_instance_call(
        {"activity": "queryInstance", "instanceId": ",".join(f"{n:036d}" for n in range(100))}
    )
    assert isinstance(hundred, QueryInstance)
    assert len(hundred.ids) == 100


def test_a_new_instance_is_named_by_its_order_line_the_same_every_time() -> None:
    first = parse_instance_call({"activity": "newInstance", "orderId": "o", "orderLineId": "l", "businessId": "b1"})
    again = parse_instance_call({"activity": "newInstance", "orderId": "o", "orderLineId": "l", "businessId": "b2"})
    assert isinstance(first, NewInstance)
    assert isinstance(again, NewInstance)
    assert instance_of(first) == instance_of(again) == derive_instance_id("o", "l")
    assert derive_instance_id("o", "l") != derive_instance_id("ol", "") != derive_instance_id("o", "l2")
    assert issued_here(instance_of(first))
    assert not issued_here("10e758d0-31ad-4c4b-8f1b-81d03469a10e")
    assert not issued_here(instance_of(first)[:-1] + ("0" if instance_of(first)[-1] != "0" else "1"))


def test_the_event_id_ignores_the_request_id_but_not_the_signing_time() -> None:
    body = {"activity": "newInstance", "orderId": "o", "orderLineId": "l"}
    first = parse_instance_call({**body, "businessId": "b1"})
    resent = parse_instance_call({**body, "businessId": "b2", "testFlag": "0"})
    assert isinstance(first, NewInstance)
    assert isinstance(resent, NewInstance)
    assert instance_event_id(first, 1000) == instance_event_id(resent, 1000)
    assert instance_event_id(first, 1000) != instance_event_id(resent, 1001)


def test_an_envelope_travels_as_one_keyed_record_and_comes_back_the_same() -> None:
    call = parse_instance_call(
        {
            "activity": "refreshInstance",
            "instanceId": "i-1",
            "scene": "RENEWAL",
            "orderId": "o",
            "orderLineId": "l",
            "expireTime": "20271204015425",
            "remark": "续费",
        }
    )
    assert isinstance(call, RefreshInstance)
    envelope = InstanceEnvelope.from_call(call, 1767600000123, datetime.now(UTC))
    record = encode_instance_event(envelope)

    assert record.key == b"i-1"
    assert is_instance_record(record.headers)
    decoded = decode_instance_record(record.value)
    assert decoded == envelope
    assert decoded.parsed_call() == call
    assert decoded.version == datetime(2026, 1, 5, 8, 0, 0, 123000, tzinfo=UTC)


def test_app_info_needs_a_front_end_url_and_refuses_unknown_fields() -> None:
    assert AppInfo(frontEndUrl="https://x").memo == ""
    with pytest.raises(ValueError, match="frontEndUrl"):
        AppInfo.model_validate({"adminUrl": "https://x"})
    with pytest.raises(ValueError, match="extra"):
        AppInfo.model_validate({"frontEndUrl": "https://x", "token": "t"})
