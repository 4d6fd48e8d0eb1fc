"""The platform's two time formats: `yyyyMMddHHmmssSSS` (UTC+8 wall-clock time) in bodies, and Unix
milliseconds in the signing `timestamp` (the sync calls' `x-timestamp` header, the instance calls'
query parameter)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache

PLATFORM_TZ = timezone(timedelta(hours=8), "UTC+8")
# [0-9], not \d: \d and int() also take full-width and other Unicode digits, and such a time would be
# accepted as the same instant as its ASCII form under another event id.
_PLATFORM_TIME = re.compile(r"[0-9]{17}")
# The earliest platform time that is a UTC datetime: 0001-01-01 00:00 UTC.
_EARLIEST = "00010101080000000"
# Unix milliseconds in canonical decimal: ASCII digits, no sign, no leading zero (but "0" itself), at
# most 16 digits (the year 2286, and the integer stays small). One spelling per instant matters: the
# signed message runs nonce and timestamp together, so a leading "0" would let a captured call whose
# nonce ends in "0" pass again with that "0" moved to the front of its timestamp.
_UNIX_MILLIS = re.compile(r"0|[1-9][0-9]{0,15}")


def parse_unix_millis(value: str) -> int:
    """The signing timestamp `value` as an integer; ValueError unless it is Unix milliseconds written in
    canonical decimal (see `_UNIX_MILLIS`). Which answer a refusal gets is the caller's: the sync calls
    refuse it with their signature (SPEC §2-3: 000001), the instance calls as a malformed parameter
    (SPEC §9: 000002)."""
    if not _UNIX_MILLIS.fullmatch(value):
        raise ValueError("expected Unix time in milliseconds: 1 to 16 digits 0-9, no leading zero")
    return int(value)


# A worker parses each event's timeStamp three times (validation, rules, event row): remember the
# latest few thousand (the results are immutable) rather than parse them again.
@lru_cache(maxsize=8192)
def parse_platform_time(value: str) -> datetime:
    """Parse `yyyyMMddHHmmssSSS` (UTC+8, ASCII digits) into an aware UTC datetime; ValueError if it is not one.

    Fixed-width fields read by slicing: every event's timestamp is parsed several times on the hot
    path, and `strptime` cost ~8 us of it. With exactly 17 digits the fields cannot be read another
    way, and `datetime` refuses what `strptime` refuses (month 13, day 31 of a 30-day month, year 0,
    ...). The only other time that has no UTC datetime is the first eight hours of year 1, which
    `astimezone` refuses with OverflowError: a ValueError too, as for any other time out of range.
    """
    if not _PLATFORM_TIME.fullmatch(value):
        raise ValueError("expected 17 digits 0-9 (yyyyMMddHHmmssSSS)")
    local = datetime(
        int(value[0:4]),
        int(value[4:6]),
        int(value[6:8]),
        int(value[8:10]),
        int(value[10:12]),
        int(value[12:14]),
        int(value[14:17]) * 1000,
        tzinfo=PLATFORM_TZ,
    )
    try:
        return local.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"out of range: the earliest time is {_EARLIEST}") from None


# A worker's batch acknowledges up to thousands of events finished at one and the same instant.
@lru_cache(maxsize=64)
def format_platform_time(moment: datetime) -> str:
    """The inverse of `parse_platform_time` (millisecond precision)."""
    local = moment.astimezone(PLATFORM_TZ)
    return (
        f"{local.year:04d}{local.month:02d}{local.day:02d}"
        f"{local.hour:02d}{local.minute:02d}{local.second:02d}{local.microsecond // 1000:03d}"
    )
