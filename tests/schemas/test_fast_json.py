"""The orjson paths give exactly what the standard library's give: the same decoded body, the same
refusal, the same canonical text, the same event id and the same envelope bytes.

Bodies are the source texts of test_canonical_vs_jackson (numbers as senders write them, 300-digit
integers, surrogate pairs, control characters, repeated keys, nesting 20-150 deep); values compare
by repr, so that 1 and 1.0, 0.0 and -0.0, and the order of keys count.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from schemas import strict_json
from schemas.calls import Interface, parse_call
from schemas.compact_json import exact_dumps
from schemas.envelope import EventEnvelope, decode_record, encode_call, encode_event
from schemas.event_id import event_id_of
from schemas.exceptions import InvalidCall
from tests.schemas.test_canonical_vs_jackson import bodies, json_values, written

_EXAMPLES = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def outcome(decode: Any, source: Any) -> str:
    try:
        return "value " + repr(decode(source))
    except strict_json.NotJson as refused:
        return f"{type(refused).__name__} {refused}"
    except UnicodeDecodeError as refused:
        return f"not UTF-8 {refused.start}"


@_EXAMPLES
@given(body=bodies())
def test_a_body_decodes_from_bytes_as_from_text(body: str) -> None:
    assert outcome(strict_json.loads_utf8, body.encode()) == outcome(strict_json.loads, body)


# What a sender might get wrong, spliced into a valid body.
_DAMAGE = [b"", b",", b"]", b"}", b"[", b'"', b"\\", b"\\u", b"\\ud800", b"NaN", b"1e400", b"-", b"0", b".", b"e"]
_DAMAGE += [
    b"\x00",
    b"\x1f",
    b"\x7f",
    b"\xff",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    b" ",
    b"\t",
    b"\x0c",
    b"99999999999999999999",
]


@_EXAMPLES
@given(body=bodies(), data=st.data())
def test_a_damaged_body_is_refused_from_bytes_as_from_text(body: str, data: st.DataObject) -> None:
    raw = body.encode()
    start = data.draw(st.integers(min_value=0, max_value=len(raw)))
    end = data.draw(st.integers(min_value=start, max_value=min(len(raw), start + 3)))
    damaged = raw[:start] + data.draw(st.sampled_from(_DAMAGE)) + raw[end:]
    try:
        expected = outcome(strict_json.loads, damaged.decode("utf-8"))
    except UnicodeDecodeError as refused:
        expected = f"not UTF-8 {refused.start}"
    assert outcome(strict_json.loads_utf8, damaged) == expected


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 18446744073709551616, "b": -9223372036854775809, "c": 9223372036854775808}',  # orjson: floats
        '{"a": 123456789012345678901234567890}',
        '{"a": 0.1000000000000000055511151231257827, "b": 1e-400, "c": -0.0, "d": 1E2}',
        '{"a": "\\ud83d\\ude00", "b": "\\ud800"}',
        '{"a": 1e400}',
        '\ufeff{"a": 1}',
        '{"a": 1, "a": 2, "b": [], "b": {}}',
        "[" * 600 + "]" * 600,
        "[" * 2000 + "]" * 2000,
    ],
)
def test_what_orjson_reads_otherwise_is_decoded_as_json_loads_does(text: str) -> None:
    assert outcome(strict_json.loads_utf8, text.encode()) == outcome(strict_json.loads, text)


def test_a_long_integer_stays_an_integer() -> None:
    assert strict_json.loads_utf8(b'{"a": 18446744073709551616}') == {"a": 2**64}


@_EXAMPLES
@given(body=bodies(), sort_keys=st.booleans())
def test_orjsons_text_is_taken_only_where_it_is_json_dumpss(body: str, sort_keys: bool) -> None:
    value = strict_json.loads(body)
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)
    exact = exact_dumps(value, sort_keys=sort_keys)
    assert exact is None or exact == expected.encode()


@pytest.mark.parametrize(
    "value",
    [
        {"a": float("nan")},
        {"a": [1.5]},
        {"a": 2**64},
        {"a": "\ud800"},
        {1: "a"},
        {"a": datetime(2025, 1, 1, tzinfo=UTC)},
    ],
)
def test_what_orjson_writes_otherwise_is_left_to_json_dumps(value: dict[Any, Any]) -> None:
    assert exact_dumps(value) is None


def test_an_ordinary_call_takes_the_fast_path() -> None:
    """Otherwise every other test here would pass with orjson never used."""
    body = {"tenantId": "t-1", "orgName": '部门 \u0001 "x" \\', "flag": 1, "nested": {"list": [1, True, "x"]}}
    body["interface"] = Interface.TENANT_SYNC  # a str enum: its value, as json.dumps writes it
    assert exact_dumps(body) == json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert strict_json.loads_utf8(json.dumps(body).encode()) == body


def reference_event_id(interface: Interface, normalised: dict[str, Any]) -> str:
    """The event id as it has always been computed (SPEC §4: the same call keeps its id across versions)."""
    content = json.dumps(normalised, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"syncpipe-event-id/1\n{interface}\n{content}".encode()).hexdigest()[:32]


@_EXAMPLES
@given(extra=json_values, key=st.text(max_size=4))
def test_the_event_id_is_the_one_it_always_was(extra: Any, key: str) -> None:
    value = strict_json.loads(written(extra, ascii_only=False, space=""))
    normalised = {"tenantId": "t-1", "flag": 1, "x" + key: value}
    assert event_id_of(Interface.SINGLE_ORG_SYNC, normalised) == reference_event_id(
        Interface.SINGLE_ORG_SYNC, normalised
    )


def single_org_sync(**extra: Any) -> dict[str, Any]:
    body = {"tenantId": "t-1", "timeStamp": "20250303090000123", "orgCode": "D1", "orgName": "部门", "flag": 1}
    return {**body, **extra}


_ACCEPTED_AT = [
    datetime(2026, 12, 3, 18, 0, 0, 120000, tzinfo=UTC),
    datetime(2026, 12, 3, 18, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 3, 18, 0, 0, 1, tzinfo=timezone(timedelta(hours=8))),
]


@_EXAMPLES
@given(
    extra=json_values,
    more=st.fixed_dictionaries({}, optional={"big": st.just(2**64), "small": st.floats(allow_nan=False)}),
    accepted_at=st.sampled_from(_ACCEPTED_AT),
)
def test_a_calls_records_are_the_envelopes_encoding(extra: Any, more: dict[str, Any], accepted_at: datetime) -> None:
    """encode_call writes the bytes encode_event writes for the envelope model (2**64 in an unknown
    field: left to pydantic), and they decode back to the same envelope."""
    unknown = strict_json.loads(written(extra, ascii_only=False, space=""))
    try:
        call = parse_call(Interface.SINGLE_ORG_SYNC, single_org_sync(unknownField=unknown, **more))
    except InvalidCall:  # a NUL: never accepted
        reject()
    envelope = EventEnvelope.from_call(call, accepted_at)
    event_id, records = encode_call(call, accepted_at, max_record_bytes=1_000_000, extra_headers=[("tp", b"1")])
    assert event_id == envelope.eventId
    assert records == encode_event(envelope, max_record_bytes=1_000_000, extra_headers=[("tp", b"1")])
    assert decode_record(*records[0]) == envelope


def test_a_call_too_large_for_one_record_is_split_as_encode_event_splits_it() -> None:
    call = parse_call(
        Interface.ALL_ORG_SYNC, {**single_org_sync(), "orgInfoList": [{"orgCode": f"D{n}"} for n in range(500)]}
    )
    accepted_at = _ACCEPTED_AT[0]
    _, records = encode_call(call, accepted_at, max_record_bytes=1000)
    expected = encode_event(EventEnvelope.from_call(call, accepted_at), max_record_bytes=1000)
    assert len(records) == len(expected) > 1
    assert [record.value for record in records] == [record.value for record in expected]
    assert [record.headers[:-1] for record in records] == [record.headers[:-1] for record in expected]


def test_an_ordinary_calls_envelope_is_written_without_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Otherwise the test above would pass with orjson never used."""
    call = parse_call(Interface.SINGLE_ORG_SYNC, single_org_sync(note={"a": [1, "b", None]}))
    expected = encode_event(EventEnvelope.from_call(call, _ACCEPTED_AT[0]), max_record_bytes=1_000_000)

    def no_model(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the envelope model was built")

    monkeypatch.setattr(EventEnvelope, "model_validate", no_model)
    assert encode_call(call, _ACCEPTED_AT[0], max_record_bytes=1_000_000)[1] == expected
