"""`syncpipe replay | rebuild | dlq | events`: recovery commands for the on-call engineer (SPEC §8).

Every command reads DATABASE_URL (and `replay` KAFKA_BOOTSTRAP_SERVERS) from the settings, prints
its result on stdout (`--json`: one JSON document, for scripts) and its progress on stderr. Every
command that changes something takes `--dry-run`: it then does the same work and changes nothing.

Exit codes (the same for every recovery command):
  0  done, nothing left that needs attention
  1  done, but something needs a look: a replayed event was dead-lettered or failed, or an upload
     was cut by the window; a retried dead letter still fails; archived calls no longer validate
  2  bad arguments or configuration: a setting missing, a window that cannot be read, the
     database not migrated to this version (run `syncpipe migrate`)
  3  not found: no such dead letter, no events of that tenant
  4  Postgres or Kafka unreachable or failing: nothing half-done, safe to run again later
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from schemas.calls import Interface
from schemas.timestamps import parse_platform_time
from syncpipe import recovery_output as output
from syncpipe.progress_meter import StderrProgress
from syncpipe.settings import Settings
from workers.applier.dead_letters import KafkaDeadLetterSink
from workers.applier.errors import is_retriable
from workers.applier.records import EventStatus
from workers.replay import dead_letters, history, rebuild, replay
from workers.replay.exceptions import ArchiveUnreadable, BadWindow, NotFound, RecoveryError, SchemaBehind
from workers.replay.log_window import WindowSpec
from workers.replay.selection import RecordFilter

EXIT_OK = 0
EXIT_ATTENTION = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_UNAVAILABLE = 4

COMMANDS = ("replay", "rebuild", "dlq", "events")
_EXIT_CODES_HELP = __doc__[__doc__.index("Exit codes") :] if __doc__ else ""
# A database that does not answer a connect in this long is reported unreachable (exit 4).
_CONNECT_TIMEOUT_S = 10.0
# Largest record the dead-letter producer may need to send: a whole part plus key and headers.
_RECORD_OVERHEAD_BYTES = 64 * 1024


class UsageError(Exception):
    """Arguments or settings that cannot work (exit 2)."""


# -- arguments ------------------------------------------------------------------------------------


# A duration ago, an amount of 1 to 12 digits: 12 digits of seconds already reach 31,000 years back,
# before year 1 (and int() refuses more than 4300 digits).
_AGO = re.compile(r"([0-9]{1,12})([smhd])")
_LONG_AGO = re.compile(r"[0-9]{13,}[smhd]")
_AGO_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# [0-9], not \d: \d and int() also read full-width and other Unicode digits.
_PLATFORM_TIME = re.compile(r"[0-9]{17}")
_OFFSET = re.compile(r"([0-9]+):([0-9]+)")
_BARE_OFFSET = re.compile(r"[0-9]{1,16}")
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


def parse_offset(text: str) -> tuple[int, int]:
    """`PARTITION:OFFSET`."""
    match = _OFFSET.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not PARTITION:OFFSET: {text!r}")
    return int(match[1]), int(match[2])


def parse_until(text: str) -> datetime | tuple[int | None, int]:
    """A time, `PARTITION:OFFSET`, or a bare OFFSET (for the one partition of --from-offset)."""
    if _OFFSET.fullmatch(text.strip()):
        return parse_offset(text)
    if _BARE_OFFSET.fullmatch(text.strip()):
        return None, int(text)
    return parse_record_time(text)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_commands(commands: Any) -> None:
    """Mount the recovery commands on `syncpipe`'s subparsers."""
    formatter = argparse.RawDescriptionHelpFormatter

    def command(name: str, help_text: str, description: str, parent: Any = commands) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(
            name, help=help_text, description=description, epilog=_EXIT_CODES_HELP, formatter_class=formatter
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
    replay_parser.add_argument(
        "--tenant", action="append", default=[], metavar="ID", help="only this tenant (repeatable)"
    )
    replay_parser.add_argument(
        "--interface",
        action="append",
        default=[],
        choices=[interface.value for interface in Interface],
        help="only this interface (repeatable)",
    )
    dry_run_flag(replay_parser)
    json_flag(replay_parser)

    rebuild_parser = command(
        "rebuild",
        "recompute one tenant's state from its archived events, in one transaction",
        "Discard the tenant's state (tenant record, departments, users, authorisations, applications) and\n"
        "rebuild it from the calls archived in Postgres (events applied or stale), under the tenant's lock,\n"
        "in one transaction: readers see the old state or the new, never half. Prints what changed.",
    )
    rebuild_parser.add_argument("--tenant", required=True, metavar="ID")
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
    show.add_argument("id", type=int)
    json_flag(show)
    retry = command(
        "retry",
        "re-decode and apply dead letters with the code running now",
        "Re-decode each stored record with the current code and apply it; a fixed event becomes applied,\n"
        "one that still fails stays dead-lettered with its new reason.",
        dlq_commands,
    )
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("ids", type=int, nargs="*", default=[], metavar="ID")
    which.add_argument("--all", action="store_true", help="every dead letter still waiting")
    retry.add_argument("--tenant", metavar="ID", help="with --all: only this tenant's")
    dry_run_flag(retry)
    json_flag(retry)
    drop = command("drop", "give dead letters up (kept, marked dropped, for audit)", "Drop dead letters.", dlq_commands)
    drop.add_argument("ids", type=int, nargs="+", metavar="ID")
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


# -- running --------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one recovery command; return its exit code (errors are reported on stderr, never raised)."""
    name = args.command if args.command != "dlq" else f"dlq {args.dlq_command}"
    try:
        return await _COMMANDS[args.command](args, settings)
    except (UsageError, BadWindow, SchemaBehind) as exc:
        return _fail(name, str(exc), EXIT_USAGE)
    except NotFound as exc:
        return _fail(name, str(exc), EXIT_NOT_FOUND)
    except ArchiveUnreadable as exc:
        return _fail(name, f"{exc}; nothing was changed", EXIT_ATTENTION)
    except asyncpg.UndefinedTableError as exc:
        return _fail(name, f"the database is not migrated to this version ({exc}): run `syncpipe migrate`", EXIT_USAGE)
    except BrokenPipeError:
        # Whoever read stdout went away (`| head`): not an outage. Stop writing, quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except asyncpg.InvalidAuthorizationSpecificationError as exc:
        return _fail(name, f"the database refused the credentials of DATABASE_URL: {exc}", EXIT_USAGE)
    except Exception as exc:
        if not (exc.retriable if isinstance(exc, RecoveryError) else is_retriable(exc)):
            raise  # a bug, not an outage: the traceback is what is needed
        return _fail(
            name, f"a service is unreachable or failing ({exc!r}); nothing half-done, run it again", EXIT_UNAVAILABLE
        )


def _fail(name: str, message: str, code: int) -> int:
    print(f"syncpipe {name}: {message}", file=sys.stderr)
    return code


def _emit(args: argparse.Namespace, document: Any, text: Callable[[], str]) -> None:
    print(json.dumps(document, ensure_ascii=False, indent=2) if args.json else text())


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    if settings.database_url is None or not settings.database_url.get_secret_value():
        raise UsageError("DATABASE_URL is not set")
    connection = await asyncpg.connect(settings.database_url.get_secret_value(), timeout=_CONNECT_TIMEOUT_S)
    try:
        yield connection
    finally:
        await connection.close()


async def _replay(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.kafka_bootstrap_servers:
        raise UsageError("KAFKA_BOOTSTRAP_SERVERS is not set")
    spec = _window(args)
    progress = StderrProgress("replay", "records")
    record_filter = RecordFilter(frozenset(args.tenant), frozenset(args.interface))
    async with _database(settings) as connection, _dead_letter_sink(settings, args.dry_run) as sink:
        replayer = replay.Replayer(connection, settings, sink, progress)
        report = await replayer.run(spec, record_filter, dry_run=args.dry_run)
    progress.finish()
    _emit(args, report.to_json(), lambda: output.render_replay(report, settings.events_topic))
    needs_look = report.dead_lettered or report.failed or report.incomplete_uploads
    return EXIT_ATTENTION if needs_look else EXIT_OK


@asynccontextmanager
async def _dead_letter_sink(settings: Settings, dry_run: bool) -> AsyncIterator[KafkaDeadLetterSink | None]:
    """Where a replay sends what it dead-letters: the topic the workers use. None for a dry run."""
    if dry_run:
        yield None
        return
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        max_request_size=settings.max_record_bytes + _RECORD_OVERHEAD_BYTES,
    )
    try:
        await producer.start()
        yield KafkaDeadLetterSink(producer, settings.dead_letter_topic, settings.produce_timeout_s)
    finally:
        await producer.stop()  # also releases the connections of a producer that failed to start


def _window(args: argparse.Namespace) -> WindowSpec:
    from_offsets = dict(args.from_offset or [])
    if args.from_offset and len(from_offsets) != len(args.from_offset):
        raise UsageError("--from-offset names a partition twice")
    until_time, until_offsets = None, {}
    if isinstance(args.until, datetime):
        until_time = args.until
    elif args.until is not None:
        partition, offset = args.until
        if partition is None:
            if len(from_offsets) != 1:
                raise UsageError("a bare --until OFFSET needs exactly one --from-offset partition; use P:O")
            partition = next(iter(from_offsets))
        if from_offsets and partition not in from_offsets:
            raise UsageError(f"--until names partition {partition}, which --from-offset does not read")
        until_offsets[partition] = offset
    return WindowSpec(since=args.since, from_offsets=from_offsets, until=until_time, until_offsets=until_offsets)


async def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    progress = StderrProgress("rebuild", "events")
    async with _database(settings) as connection:
        report = await rebuild.rebuild_tenant(connection, args.tenant, dry_run=args.dry_run, progress=progress)
    progress.finish()
    _emit(args, report.to_json(), lambda: output.render_rebuild(report))
    return EXIT_OK


async def _dlq(args: argparse.Namespace, settings: Settings) -> int:
    async with _database(settings) as connection:
        match args.dlq_command:
            case "list":
                states = dead_letters.STATES if args.state == "all" else (args.state,)
                letters, total = await dead_letters.list_dead_letters(
                    connection, states=states, tenant_id=args.tenant, limit=args.limit
                )
                document = {"deadLetters": [letter.to_json() for letter in letters], "total": total}
                _emit(args, document, lambda: output.render_dead_letter_list(letters, total))
                return EXIT_OK
            case "show":
                detail = await dead_letters.show_dead_letter(connection, args.id)
                if detail is None:
                    raise NotFound(f"no dead letter {args.id}")
                _emit(args, _detail_json(detail), lambda: output.render_dead_letter(detail))
                return EXIT_OK
            case "retry":
                return await _retry(args, connection)
            case _:
                drops = await dead_letters.drop_dead_letters(connection, args.ids, dry_run=args.dry_run)
                _emit(
                    args,
                    {"dryRun": args.dry_run, "results": [d.to_json() for d in drops]},
                    lambda: output.render_drops(drops, args.dry_run),
                )
                return EXIT_NOT_FOUND if any(d.result == "not_found" for d in drops) else EXIT_OK


async def _retry(args: argparse.Namespace, connection: asyncpg.Connection) -> int:
    if args.tenant and not args.all:
        raise UsageError("--tenant goes with --all")
    ids = await dead_letters.waiting_ids(connection, args.tenant) if args.all else args.ids
    progress = StderrProgress("dlq retry", "dead letters")
    outcomes = []
    for done, dead_letter_id in enumerate(ids, start=1):
        outcomes.append(await dead_letters.retry_dead_letter(connection, dead_letter_id, dry_run=args.dry_run))
        progress.update(done, len(ids))
    progress.finish()
    document = {"dryRun": args.dry_run, "results": [outcome.to_json() for outcome in outcomes]}
    _emit(args, document, lambda: output.render_retries(outcomes, args.dry_run))
    if any(outcome.result == "not_found" for outcome in outcomes):
        return EXIT_NOT_FOUND
    unresolved = [o for o in outcomes if not o.resolved and o.result != "skipped"]
    return EXIT_ATTENTION if unresolved else EXIT_OK


def _detail_json(detail: dead_letters.DeadLetterDetail) -> dict[str, Any]:
    """The letter with its whole value: JSON (secrets masked) when it is, else base64."""
    value: dict[str, Any] = {"valueBytes": len(detail.value or b"")}
    if detail.value is not None:
        try:
            value["value"] = output.masked_json(detail.value)
        except (ValueError, UnicodeDecodeError):
            value["valueBase64"] = base64.b64encode(detail.value).decode()
    return {
        **detail.summary.to_json(),
        "eventStatus": detail.event_status,
        "key": detail.key.decode(errors="replace") if detail.key is not None else None,
        "headers": {name: value.decode(errors="replace") for name, value in detail.headers},
        **value,
    }


async def _events(args: argparse.Namespace, settings: Settings) -> int:
    async with _database(settings) as connection:
        found = await history.tenant_history(
            connection, args.tenant, since=args.since, limit=args.limit, statuses=args.status
        )
    _emit(args, found.to_json(), lambda: output.render_history(found))
    return EXIT_OK if found.entries or found.uploads_waiting else EXIT_NOT_FOUND


_COMMANDS = {"replay": _replay, "rebuild": _rebuild, "dlq": _dlq, "events": _events}
