"""Calls at the edges of what can be stored: refused by `parse_call` with InvalidCall naming the field.

Anything else escaping validation (RecursionError, pydantic's serialisation limit) is answered
000005 by the gateway, and the platform would try a call that can never be stored again forever.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic_core import PydanticSerializationError

from schemas.calls import AllOrgSync, Interface, normalised_body, parse_call
from schemas.envelope import EventEnvelope, decode_record, encode_event
from schemas.exceptions import InvalidCall
from schemas.storable import MAX_NESTING
from tests.gateway.platform import sample_body

TENANT = "t-edges"
TOO_DEEP = f"nested too deeply (more than {MAX_NESTING} levels of objects and lists)"
RECORD_BYTES = 1024 * 1024


def nested(levels: int, inner: Any = "x", *, kind: type = list) -> Any:
    """`inner` inside `levels` lists (or objects `{"a": ...}`), one inside the other."""
    value = inner
    for _ in range(levels):
        value = [value] if kind is list else {"a": value}
    return value


def stored_again(interface: str, body: dict[str, Any]) -> dict[str, Any]:
    """The body through the gateway's path (validated, normalised, written as a record) and back."""
    envelope = EventEnvelope.from_call(parse_call(interface, body), datetime.now(UTC))
    (record,) = encode_event(envelope, RECORD_BYTES)
    decoded = decode_record(record.key, record.value, record.headers)
    assert isinstance(decoded, EventEnvelope)
    decoded.parsed_call()
    return decoded.call


# Where an unknown value may sit, how many levels of the body lie above it (the body is level 1), and
# how the field of a value nested too deeply there is named.
PLACES = [
    pytest.param("tenantSync", lambda value: {"vendorNote": value}, 1, "vendorNote.0.0…", id="top-level"),
    pytest.param(
        "allOrgSync",
        lambda value: {"orgInfoList": [{"orgCode": "root"}, {"orgCode": "rnd", "tags": value}]},
        3,
        "orgInfoList.1.tags…",
        id="department",
    ),
    pytest.param(
        "allOrgSync",
        lambda value: {"orgInfoList": json.dumps([{"orgCode": "root", "tags": value}])},
        3,
        "orgInfoList.0.tags…",
        id="department-in-a-string",
    ),
    pytest.param(
        "authSync",
        lambda value: {"userList": [{"userName": "ada", "extension": value}]},
        3,
        "userList.0.extension…",
        id="user-extension",
    ),
]


@pytest.mark.parametrize(("interface", "place", "above", "field"), PLACES)
def test_a_call_nested_as_deep_as_a_record_can_hold_is_stored(
    interface: str, place: Any, above: int, field: str
) -> None:
    body = sample_body(interface, TENANT, **place(nested(MAX_NESTING - above)))
    assert stored_again(interface, body) == normalised_body(parse_call(interface, body))


@pytest.mark.parametrize(("interface", "place", "above", "field"), PLACES)
def test_a_call_nested_one_level_deeper_is_refused_naming_the_field(
    interface: str, place: Any, above: int, field: str
) -> None:
    with pytest.raises(InvalidCall) as refused:
        parse_call(interface, sample_body(interface, TENANT, **place(nested(MAX_NESTING - above + 1))))
    assert (refused.value.field, refused.value.reason) == (field, TOO_DEEP)


@pytest.mark.parametrize(("interface", "place", "above", "field"), PLACES[:2])
def test_the_limit_is_what_a_record_can_hold(interface: str, place: Any, above: int, field: str) -> None:
    """One level deeper could never be written to Kafka, so the limit refuses nothing ever stored
    (an event stored before it is validated again by the worker). Fails if pydantic's own limit moves."""
    envelope = EventEnvelope.from_call(parse_call(interface, sample_body(interface, TENANT)), datetime.now(UTC))
    deeper = envelope.model_copy(update={"call": {**envelope.call, **place(nested(MAX_NESTING - above + 1))}})
    with pytest.raises(PydanticSerializationError, match="Maximum serialization depth exceeded"):
        encode_event(deeper, RECORD_BYTES)


def test_objects_count_as_levels_as_lists_do() -> None:
    at_the_limit = nested(MAX_NESTING - 2, {"k": 1})  # the innermost object is the body's level MAX_NESTING
    parse_call("tenantSync", sample_body("tenantSync", TENANT, vendorNote=at_the_limit))
    with pytest.raises(InvalidCall) as refused:
        parse_call("tenantSync", sample_body("tenantSync", TENANT, vendorNote=[at_the_limit]))
    assert (refused.value.field, refused.value.reason) == ("vendorNote.0.0…", TOO_DEEP)
    with pytest.raises(InvalidCall) as refused:
        parse_call("tenantSync", sample_body("tenantSync", TENANT, vendorNote=nested(MAX_NESTING, kind=dict)))
    assert str(refused.value) == f"vendorNote.a.a…: {TOO_DEEP}"


# --- orgInfoList sent as a JSON string: decoded as strictly as the gateway decodes a body -----------------


@pytest.mark.parametrize(
    ("listed", "reason"),
    [
        pytest.param('[{"orgCode": "root", "size": NaN}]', "NaN is not a JSON number", id="nan"),
        pytest.param('[{"orgCode": "root", "size": Infinity}]', "Infinity is not a JSON number", id="infinity"),
        pytest.param('[{"orgCode": "root", "size": -Infinity}]', "-Infinity is not a JSON number", id="-infinity"),
        pytest.param('[{"orgCode": "root", "note": "\\ud800"}]', "unpaired UTF-16 surrogate escape", id="surrogate"),
        pytest.param('[{"orgCode": "\\udc00x"}]', "unpaired UTF-16 surrogate escape", id="surrogate-in-a-field"),
        pytest.param('[{"orgCode": "root", "size": 1e400}]', "1e400 is out of range for a number", id="overflow"),
        pytest.param('[{"orgCode": "root"}', "Expecting ',' delimiter at line 1 column 21", id="truncated"),
    ],
)
def test_a_list_string_the_gateway_would_refuse_as_a_body_is_refused(listed: str, reason: str) -> None:
    with pytest.raises(InvalidCall) as refused:
        parse_call("allOrgSync", sample_body("allOrgSync", TENANT, orgInfoList=listed))
    assert (refused.value.field, refused.value.reason) == ("orgInfoList", f"string is not a JSON list ({reason})")


def test_a_list_string_holding_an_integer_too_long_to_convert_is_refused() -> None:
    listed = '[{"orgCode": "root", "size": ' + "1" * 5000 + "}]"
    with pytest.raises(InvalidCall) as refused:
        parse_call("allOrgSync", sample_body("allOrgSync", TENANT, orgInfoList=listed))
    assert refused.value.field == "orgInfoList"
    assert refused.value.reason.startswith("string is not a JSON list (Exceeds the limit (4300 digits)")


@pytest.mark.parametrize(
    ("levels", "field"), [(MAX_NESTING, "orgInfoList.0.0…"), (5_000, "orgInfoList"), (100_000, "orgInfoList")]
)
def test_a_list_string_nested_too_deeply_is_refused(levels: int, field: str) -> None:
    """Deeper than json.loads can go (RecursionError) too: named as the whole list."""
    listed = "[" * levels + "]" * levels
    with pytest.raises(InvalidCall) as refused:
        parse_call("allOrgSync", sample_body("allOrgSync", TENANT, orgInfoList=listed))
    assert (refused.value.field, refused.value.reason) == (field, TOO_DEEP)


def test_a_list_string_with_a_character_beyond_the_bmp_escaped_as_a_pair_is_read() -> None:
    listed = json.dumps([{"orgCode": "root", "orgName": "R&D \U0001f680"}], ensure_ascii=True)
    assert "\\ud83d\\ude80" in listed
    call = parse_call("allOrgSync", sample_body("allOrgSync", TENANT, orgInfoList=listed))
    assert isinstance(call, AllOrgSync)
    assert call.orgInfoList[0].orgName == "R&D \U0001f680"


def test_a_list_string_is_not_otherwise_read_more_strictly_than_a_list() -> None:
    departments = [{"orgCode": "root", "size": 1.5e300, "note": None, "tags": [True, False], "code": "\u00e9"}]
    listed = json.dumps(departments)
    as_string = parse_call(Interface.ALL_ORG_SYNC, sample_body("allOrgSync", TENANT, orgInfoList=listed))
    as_list = parse_call(Interface.ALL_ORG_SYNC, sample_body("allOrgSync", TENANT, orgInfoList=departments))
    assert normalised_body(as_string) == normalised_body(as_list)
