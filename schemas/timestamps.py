"""The platform's `yyyyMMddHHmmssSSS` time format, which is UTC+8 wall-clock time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

PLATFORM_TZ = timezone(timedelta(hours=8), "UTC+8")
_PLATFORM_TIME = re.compile(r"\d{17}")


def parse_platform_time(value: str) -> datetime:
    """Parse `yyyyMMddHHmmssSSS` (UTC+8) into an aware UTC datetime; ValueError if it is not one."""
    if not _PLATFORM_TIME.fullmatch(value):
        raise ValueError("expected 17 digits yyyyMMddHHmmssSSS")
    local = datetime.strptime(value[:14], "%Y%m%d%H%M%S").replace(
        microsecond=int(value[14:]) * 1000, tzinfo=PLATFORM_TZ
    )
    return local.astimezone(UTC)


def format_platform_time(moment: datetime) -> str:
    """The inverse of `parse_platform_time` (millisecond precision)."""
    local = moment.astimezone(PLATFORM_TZ)
    return local.strftime("%Y%m%d%H%M%S") + f"{local.microsecond // 1000:03d}"
