"""`syncpipe replay | rebuild | dlq | events`: recovery commands for the on-call engineer (SPEC §8).

Every command reads DATABASE_URL (and `replay` KAFKA_BOOTSTRAP_SERVERS) from the settings, prints
its result on stdout (`--json`: one JSON document, for scripts) and its progress on stderr. Every
command that changes something takes `--dry-run`: it then does the same work and changes nothing.
Exit codes: `syncpipe.recovery.exit_codes`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg

from runtime.outages import is_retriable
from runtime.settings import Settings
from syncpipe.recovery import output
from syncpipe.recovery.exit_codes import EXIT_ATTENTION, EXIT_NOT_FOUND, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE
from syncpipe.recovery.progress import StderrProgress
from workers.applier.dead_letters import KafkaDeadLetterSink, dead_letter_producer
from workers.replay import dead_letters, history, instance_rebuild, rebuild, replay
from workers.replay.exceptions import ArchiveUnreadable, BadWindow, NotFound, SchemaBehind
from workers.replay.log_window import WindowSpec
from workers.replay.selection import RecordFilter

# A database that does not answer a connect in this long is reported unreachable (exit 4).
_CONNECT_TIMEOUT_S = 10.0


class UsageError(Exception):
    """Arguments or settings that cannot work (exit 2)."""


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
        if not is_retriable(exc):
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
    record_filter = RecordFilter(frozenset(args.tenant), frozenset(args.interface), frozenset(args.instance))
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
    producer = dead_letter_producer(settings)
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
    if args.instance is not None:
        async with _database(settings) as connection:
            rebuilt = await instance_rebuild.rebuild_instance(
                connection, args.instance, dry_run=args.dry_run, progress=progress
            )
        progress.finish()
        _emit(args, rebuilt.to_json(), lambda: output.render_instance_rebuild(rebuilt))
        return EXIT_OK
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
                _emit(args, detail.to_json(), lambda: output.render_dead_letter(detail))
                return EXIT_OK
            case "retry":
                return await _retry(args, connection, settings.instance_ready_url_template)
            case _:
                drops = await dead_letters.drop_dead_letters(connection, args.ids, dry_run=args.dry_run)
                _emit(
                    args,
                    {"dryRun": args.dry_run, "results": [d.to_json() for d in drops]},
                    lambda: output.render_drops(drops, args.dry_run),
                )
                return EXIT_NOT_FOUND if any(d.result == "not_found" for d in drops) else EXIT_OK


async def _retry(args: argparse.Namespace, connection: asyncpg.Connection, ready_url_template: str | None) -> int:
    if args.tenant and not args.all:
        raise UsageError("--tenant goes with --all")
    ids = await dead_letters.waiting_ids(connection, args.tenant) if args.all else args.ids
    progress = StderrProgress("dlq retry", "dead letters")
    outcomes = []
    for done, dead_letter_id in enumerate(ids, start=1):
        outcomes.append(
            await dead_letters.retry_dead_letter(
                connection, dead_letter_id, dry_run=args.dry_run, ready_url_template=ready_url_template
            )
        )
        progress.update(done, len(ids))
    progress.finish()
    document = {"dryRun": args.dry_run, "results": [outcome.to_json() for outcome in outcomes]}
    _emit(args, document, lambda: output.render_retries(outcomes, args.dry_run))
    if any(outcome.result == "not_found" for outcome in outcomes):
        return EXIT_NOT_FOUND
    unresolved = [o for o in outcomes if not o.resolved and o.result != "skipped"]
    return EXIT_ATTENTION if unresolved else EXIT_OK


async def _events(args: argparse.Namespace, settings: Settings) -> int:
    async with _database(settings) as connection:
        found = await history.tenant_history(
            connection, args.tenant, since=args.since, limit=args.limit, statuses=args.status
        )
    _emit(args, found.to_json(), lambda: output.render_history(found))
    return EXIT_OK if found.entries or found.uploads_waiting else EXIT_NOT_FOUND


_COMMANDS = {"replay": _replay, "rebuild": _rebuild, "dlq": _dlq, "events": _events}
