"""The platform's time format: every 17-digit string that is no time is a ValueError, named in a call."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.calls import parse_call
from schemas.exceptions import InvalidCall
from schemas.timestamps import format_platform_time, parse_platform_time, parse_unix_millis
from tests.gateway.platform import sample_body

TENANT = "t-timestamps"
ASCII = "20260105093000123"
FULL_WIDTH = ASCII.translate({ord("0") + digit: 0xFF10 + digit for digit in range(10)})

NO_TIMES = [
    pytest.param("00000101000000000", "year 0 is out of range", id="year-0"),
    pytest.param("00010101000000000", "out of range", id="year-1-before-utc"),
    pytest.param("00010101075959999", "out of range", id="last-ms-before-utc"),
    pytest.param("20261301000000000", "month", id="month-13"),
    pytest.param("20260001000000000", "month", id="month-0"),
    pytest.param("20260100000000000", "day", id="day-0"),
    pytest.param("20260132000000000", "day", id="day-32"),
    pytest.param("20250229000000000", "day", id="feb-29-no-leap-year"),
    pytest.param("21000229000000000", "day", id="feb-29-century"),
    pytest.param("20260101240000000", "hour", id="hour-24"),
    pytest.param("20260101006000000", "minute", id="minute-60"),
    pytest.param("20260101000060000", "second", id="second-60"),
    pytest.param("99999999999999999", "month", id="all-nines"),
    pytest.param("2026010100000000", "17 digits", id="16-digits"),
    pytest.param("202601010000000000", "17 digits", id="18-digits"),
    pytest.param("-2026010100000000", "17 digits", id="sign"),
    pytest.param("2026010100000000 ", "17 digits", id="trailing-space"),
    # int() reads any Unicode decimal digit: these would be the ASCII time's instant under another event id.
    pytest.param(FULL_WIDTH, "17 digits 0-9", id="full-width-digits"),
    pytest.param("\u0662" + ASCII[1:], "17 digits 0-9", id="one-arabic-indic-digit"),
    pytest.param(ASCII[:-1] + "\u0969", "17 digits 0-9", id="one-devanagari-digit"),
]


@pytest.mark.parametrize(("text", "reason"), NO_TIMES)
def test_a_string_that_is_no_time_is_a_value_error(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_platform_time(text)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("00010101080000000", datetime(1, 1, 1, tzinfo=UTC)),
        ("99991231235959999", datetime(9999, 12, 31, 15, 59, 59, 999000, tzinfo=UTC)),
        ("20000229000000000", datetime(2000, 2, 28, 16, tzinfo=UTC)),
        ("20260105093000123", datetime(2026, 1, 5, 1, 30, 0, 123000, tzinfo=UTC)),
    ],
)
def test_the_extreme_times_are_read_and_written_back(text: str, moment: datetime) -> None:
    assert parse_platform_time(text) == moment
    assert format_platform_time(moment) == text


@pytest.mark.parametrize(("text", "reason"), NO_TIMES)
@pytest.mark.parametrize(("interface", "field"), [("tenantSync", "timeStamp"), ("authSync", "currentSyncTime")])
def test_a_time_field_that_is_no_time_is_named(interface: str, field: str, text: str, reason: str) -> None:
    with pytest.raises(InvalidCall) as refused:
        parse_call(interface, sample_body(interface, TENANT, **{field: text}))
    assert refused.value.field == field
    assert reason in refused.value.reason


@pytest.mark.parametrize(
    ("text", "value"), [("0", 0), ("1", 1), ("1767600000000", 1_767_600_000_000), ("9" * 16, 10**16 - 1)]
)
def test_unix_milliseconds_in_canonical_decimal_are_read(text: str, value: int) -> None:
    assert parse_unix_millis(text) == value


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("01767600000000", id="leading-zero"),
        pytest.param("00", id="zero-twice"),
        pytest.param("", id="empty"),
        pytest.param("+1767600000000", id="plus"),
        pytest.param("-1", id="minus"),
        pytest.param(" 1767600000000", id="space"),
        pytest.param("1767600000000\n", id="newline"),
        pytest.param("1767600000000.0", id="fraction"),
        pytest.param("1_767_600_000_000", id="underscores"),  # int() reads them
        pytest.param("1" * 17, id="17-digits"),
        pytest.param("\uff11767600000000", id="full-width-digit"),  # int() reads it as 1
    ],
)
def test_unix_milliseconds_in_any_other_spelling_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="no leading zero"):
        parse_unix_millis(text)
