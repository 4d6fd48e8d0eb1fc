"""The recovery commands' arguments: parsing times, offsets and windows, and mounting the subcommands."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from runtime.postgres import BIGINT_MAX
from schemas.calls import Interface
from schemas.instance_calls import CHANGES
from schemas.timestamps import parse_platform_time
from syncpipe.recovery import exit_codes
from workers.outcomes import EventStatus
from workers.replay import dead_letters

COMMANDS = ("replay", "rebuild", "dlq", "events")

# A duration ago, an amount of 1 to 12 digits: 12 digits of seconds already reach 31,000 years back,
# before year 1 (and int() refuses more than 4300 digits).
_AGO = re.compile(r"([0-9]{1,12})([smhd])")
_LONG_AGO = re.compile(r"[0-9]{13,}[smhd]")
_AGO_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# [0-9], not \d: \d and int() also read full-width and other Unicode digits.
_PLATFORM_TIME = re.compile(r"[0-9]{17}")
_OFFSET = re.compile(r"([0-9]+):([0-9]+)")
_BARE_OFFSET = re.compile(r"[0-9]{1,16}")  # 17 digits are a platform time
# A whole number as typed: ASCII digits only (int() also reads "٣", "1_0" and " +5"), at most 20 of them
# (already past every bound below; int() refuses more than 4300).
_WHOLE_NUMBER = re.compile(r"[0-9]{1,20}")
# Kafka's partitions are numbered in a signed 32-bit integer, its offsets in a 64-bit one (as Postgres'
# bigint ids are); aiokafka fails with a traceback on anything past them.
_PARTITION_MAX = 2**31 - 1
_OFFSET_MAX = 2**63 - 1
# Kafka stamps a record with milliseconds since this instant, and looks up no time before it.
_FIRST_RECORD_TIME = datetime(1970, 1, 1, tzinfo=UTC)
# Longest part of an argument quoted in an error: the rest of a mistyped argument says nothing more.
_SHOWN_CHARS = 40


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """`2026-05-01T10:00:00Z` (ISO 8601; no zone = UTC), `20260501180000000` (platform time, UTC+8),
    or a duration ago: `90s`, `15m`, `2h`, `3d`; always returned in UTC.

    ArgumentTypeError (argparse's usage error, exit 2) naming the value for anything else, including a
    time that has no UTC datetime: before year 1 or after 9999 once in UTC, or longer ago than year 1.
    """
    now = now or datetime.now(UTC)
    stripped = text.strip()
    too_long_ago = argparse.ArgumentTypeError(f"{_shown(text)} is out of range: that long ago is before the year 1")
    relative = _AGO.fullmatch(stripped)
    if relative:
        try:
            return now - timedelta(**{_AGO_UNITS[relative[2]]: int(relative[1])})
        except OverflowError:
            raise too_long_ago from None
    if _LONG_AGO.fullmatch(stripped):
        raise too_long_ago
    if _PLATFORM_TIME.fullmatch(text):
        try:
            return parse_platform_time(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not a platform time: {exc}") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {_shown(text)} (ISO 8601, yyyyMMddHHmmssSSS, or 15m/2h/3d ago)"
        ) from None
    try:
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is out of range in UTC (0001-01-01 to 9999-12-31)") from None


def parse_record_time(text: str) -> datetime:
    """A time (`parse_time`) that Kafka can look a record up by: not before 1970 (aiokafka refuses it)."""
    moment = parse_time(text)
    if moment < _FIRST_RECORD_TIME:
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is before 1970-01-01T00:00:00Z, the earliest time a Kafka record carries"
        )
    return moment


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…")


def bounded_int(text: str, low: int, high: int, what: str = "a whole number") -> int:
    """`text` as an integer in [low, high]; ArgumentTypeError (usage error, exit 2) naming the value if it
    is not ASCII digits or out of range."""
    stripped = text.strip()
    if not _WHOLE_NUMBER.fullmatch(stripped):
        if stripped.isascii() and stripped.isdigit():
            raise argparse.ArgumentTypeError(f"{_shown(text)} is out of range: {what} is {low} to {high}")
        raise argparse.ArgumentTypeError(f"not {what}: {_shown(text)} (digits 0-9)")
    value = int(stripped)
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is out of range: {what} is {low} to {high}")
    return value


def parse_offset(text: str) -> tuple[int, int]:
    """`PARTITION:OFFSET`, each within Kafka's range."""
    match = _OFFSET.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not PARTITION:OFFSET: {_shown(text)}")
    return (
        bounded_int(match[1], 0, _PARTITION_MAX, "a partition"),
        bounded_int(match[2], 0, _OFFSET_MAX, "an offset"),
    )


def parse_until(text: str) -> datetime | tuple[int | None, int]:
    """A time, `PARTITION:OFFSET`, or a bare OFFSET (for the one partition of --from-offset)."""
    if _OFFSET.fullmatch(text.strip()):
        return parse_offset(text)
    if _BARE_OFFSET.fullmatch(text.strip()):
        return None, bounded_int(text, 0, _OFFSET_MAX, "an offset")
    return parse_record_time(text)


def _positive(text: str) -> int:
    return bounded_int(text, 1, BIGINT_MAX)


def _dead_letter_id(text: str) -> int:
    return bounded_int(text, 1, BIGINT_MAX, "a dead letter id")


def _replay_filters(parser: argparse.ArgumentParser) -> None:
    """What a replay keeps: tenants' sync calls, instances' calls (SPEC §9), interfaces or activities."""
    parser.add_argument("--tenant", action="append", default=[], metavar="ID", help="only this tenant (repeatable)")
    parser.add_argument(
        "--instance", action="append", default=[], metavar="ID", help="only this instance's calls (repeatable)"
    )
    parser.add_argument(
        "--interface",
        action="append",
        default=[],
        choices=[interface.value for interface in Interface] + sorted(CHANGES),
        help="only this interface, or instance activity (repeatable)",
    )


def add_commands(commands: Any) -> None:
    """Mount the recovery commands on `syncpipe`'s subparsers."""
    formatter = argparse.RawDescriptionHelpFormatter

    def command(name: str, help_text: str, description: str, parent: Any = commands) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(
            name, help=help_text, description=description, epilog=exit_codes.HELP, formatter_class=formatter
        )
        return parser

    def json_flag(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the result as one JSON document")

    def dry_run_flag(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="do the work, report it, change nothing")

    replay_parser = command(
        "replay",
        "re-feed retained records of the events topic through the apply path (safe: applied events are skipped)",
        "Read a window of the events topic with a consumer outside the workers' group (live workers are not\n"
        "disturbed) and re-feed the records through the normal apply path. Events the database already has\n"
        "are left alone, so a replay only ever brings state to where it should be; replaying twice changes\n"
        "nothing the second time. TIME is when the gateway accepted the call: ISO 8601 (no zone = UTC),\n"
        "yyyyMMddHHmmssSSS (platform time, UTC+8), or 15m / 2h / 3d ago. The window is half-open [start, end)\n"
        "and ends at the latest at the topic's end when the replay starts.",
    )
    start = replay_parser.add_mutually_exclusive_group(required=True)
    start.add_argument(
        "--since", type=parse_record_time, metavar="TIME", help="start at the first record at/after TIME"
    )
    start.add_argument(
        "--from-offset",
        type=parse_offset,
        action="append",
        metavar="P:O",
        help="start partition P at offset O (repeatable; only the partitions named are read)",
    )
    replay_parser.add_argument(
        "--until", type=parse_until, metavar="TIME|P:O|O", help="stop before this time or offset (default: the end now)"
    )
    _replay_filters(replay_parser)
    dry_run_flag(replay_parser)
    json_flag(replay_parser)

    rebuild_parser = command(
        "rebuild",
        "recompute one tenant's (or instance's) state from its archived events, in one transaction",
        "Discard the tenant's state (tenant record, departments, users, authorisations, applications) and\n"
        "rebuild it from the calls archived in Postgres (events applied or stale), under the tenant's lock,\n"
        "in one transaction: readers see the old state or the new, never half. Prints what changed.\n"
        "--instance does the same for one instance of the order lifecycle (SPEC §9); its appInfo, the\n"
        "merchant's, is kept.",
    )
    subject = rebuild_parser.add_mutually_exclusive_group(required=True)
    subject.add_argument("--tenant", metavar="ID")
    subject.add_argument("--instance", metavar="ID")
    dry_run_flag(rebuild_parser)
    json_flag(rebuild_parser)

    dlq = command(
        "dlq", "dead letters: list, show, retry, drop", "Events that could not be applied, with their reason."
    )
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True, metavar="ACTION")
    listing = command("list", "list dead letters (default: those still waiting)", "List dead letters.", dlq_commands)
    listing.add_argument("--state", choices=[*dead_letters.STATES, "all"], default="dead")
    listing.add_argument("--tenant", metavar="ID")
    listing.add_argument("--limit", type=_positive, default=50, help="newest N (default 50)")
    json_flag(listing)
    show = command(
        "show", "one dead letter in full: reason, source, headers, value", "Show a dead letter.", dlq_commands
    )
    show.add_argument("id", type=_dead_letter_id, metavar="ID")
    json_flag(show)
    retry = command(
        "retry",
        "re-decode and apply dead letters with the code running now",
        "Re-decode each stored record with the current code and apply it; a fixed event becomes applied,\n"
        "one that still fails stays dead-lettered with its new reason.",
        dlq_commands,
    )
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", type=_dead_letter_id, nargs="*", default=[], metavar="ID")
    which.add_argument("--all", action="store_true", help="every dead letter still waiting")
    retry.add_argument("--tenant", metavar="ID", help="with --all: only this tenant's")
    dry_run_flag(retry)
    json_flag(retry)
    drop = command("drop", "give dead letters up (kept, marked dropped, for audit)", "Drop dead letters.", dlq_commands)
    drop.add_argument("ids", type=_dead_letter_id, nargs="+", metavar="ID")
    dry_run_flag(drop)
    json_flag(drop)

    events = command(
        "events",
        "a tenant's event history: status, reason, dead letter and ack of each event",
        "What happened to a tenant's calls, newest last.",
    )
    events.add_argument("--tenant", required=True, metavar="ID")
    events.add_argument("--since", type=parse_time, metavar="TIME", help="accepted at or after TIME")
    events.add_argument(
        "--status",
        action="append",
        default=[],
        choices=[status.value for status in EventStatus],
        help="only events with this status (repeatable)",
    )
    events.add_argument("--limit", type=_positive, default=50, help="newest N (default 50)")
    json_flag(events)
