"""`python -m benchmarks.soak [--days 12] [--tenants 1000] [--calls-per-day 20] [--retention-days 3]`

Many days of traffic through the apply path with pruning on the way, on a compressed clock: no
sleeping, every batch stamped with the simulated time it belongs to (`apply_batch(finished_at=…)`).
Each day is applied in blocks of four hours; after each block the acks are sent (claimed and marked,
as an acker whose platform takes them all) and the retention run a worker makes every
SYNCPIPE_RETENTION_INTERVAL_S (partitions ahead, prune) runs at that time. At the end of each simulated
day, VACUUM stands in for a day of autovacuum, and the size of every table and its indexes is
measured. What it shows (docs/retention.md): storage plateaus once the horizon is reached; what a
tenant costs (state and checkpoint), what a retained call costs, what one prune costs.

Postgres is an embedded durable cluster (or `--database-url`); no broker: the records are what the
gateway would write, handed to `apply_batch` as a worker would. Prints a Markdown table (the one in
BENCHMARKS.md) and writes the JSON result (benchmarks/results/soak.json by default).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from benchmarks.report import machine
from benchmarks.soak_report import render_days, steady_state
from benchmarks.soak_workload import DAY, SoakShape, SoakTraffic
from runtime.postgres.migrate import migrate_url
from schemas.calls import AnyCall
from schemas.envelope import EventEnvelope, encode_event
from schemas.timestamps import parse_platform_time
from syncpipe.embedded import EmbeddedPostgres
from syncpipe.embedded.databases import create_database
from workers.acks.outbox import AckOutcome, claim_due_acks, record_outcomes
from workers.applier.batch import apply_batch
from workers.applier.records import ConsumedRecord, DeadLetter
from workers.retention.maintenance import run_retention
from workers.retention.prune import RetentionPolicy

REPO = Path(__file__).resolve().parents[1]
# Simulated days start here (UTC midnight), after any clock the database has: every row is the soak's.
_START = datetime(2031, 1, 6, tzinfo=UTC)
_BATCH = 2000  # records per apply transaction, a worker's default SYNCPIPE_BATCH_MAX_RECORDS
_MAX_RECORD_BYTES = 900_000  # the gateway's default: every call of this workload fits one record
_ACKS_PER_CLAIM = 1000
# Calls are applied, acked and pruned block by block: a worker's retention interval, compressed. The
# sent acks of up to one block beyond their retention are in the outbox when a day is measured.
_BLOCK = timedelta(hours=4)
_BLOCKS_PER_DAY = DAY // _BLOCK
# What `VACUUM` covers each simulated day: the tables that are updated in place (partitions of the
# history are only inserted into, and dropped whole).
_VACUUMED = ("tenants", "departments", "users", "authorizations", "applications", "tenant_checkpoints", "ack_outbox")
# The size groups of the table, each a list of tables (a partitioned one counts all its partitions).
GROUPS: dict[str, tuple[str, ...]] = {
    "events": ("events", "early_events"),
    "ack_outbox": ("ack_outbox",),
    "checkpoints": ("tenant_checkpoints",),
    "state": ("tenants", "departments", "users", "authorizations", "applications"),
    "other": ("dead_letters", "event_parts", "retention_horizons"),
}


class _NoDeadLetters:
    """The workload's calls all validate: a dead letter would be a bug of the soak itself."""

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        raise RuntimeError(f"the soak dead-lettered {len(letters)} records: {letters[0].reason}")


async def soak(database_url: str, shape: SoakShape, days: int, policy: RetentionPolicy, seed: int) -> dict[str, Any]:
    await migrate_url(database_url)
    connection = await asyncpg.connect(database_url)
    try:
        traffic = SoakTraffic(shape, seed, _START)
        offsets = iter(range(10**12))
        await run_retention(connection, policy, _START)  # partitions ahead of the first batch, as a worker's start
        daily = []
        for number in range(days):
            started = time.perf_counter()
            figures = await _one_day(connection, traffic, number, policy, offsets)
            await connection.execute(f"VACUUM (ANALYZE) {', '.join(_VACUUMED)}")
            figures["sizes"] = await measure(connection)
            figures["rows"] = await _rows(connection)
            figures["elapsed_s"] = round(time.perf_counter() - started, 2)
            daily.append(figures)
            print(_progress(figures), file=sys.stderr, flush=True)
    finally:
        await connection.close()
    return {"days": daily, "steady_state": steady_state(daily, shape, policy)}


async def _one_day(
    connection: asyncpg.Connection, traffic: SoakTraffic, number: int, policy: RetentionPolicy, offsets: Any
) -> dict[str, Any]:
    calls = traffic.day(number)
    day_start = _START + number * DAY
    blocks: list[list[AnyCall]] = [[] for _ in range(_BLOCKS_PER_DAY)]
    for call in calls:
        blocks[min(_BLOCKS_PER_DAY - 1, _block_of(call, day_start))].append(call)
    statuses: Counter[str] = Counter()
    apply_s = prune_s = 0.0
    prunes: list[dict[str, Any]] = []
    for block, block_calls in enumerate(blocks):
        # Finished at the end of the block the calls were produced in; the prune runs right after.
        moment = day_start + (block + 1) * _BLOCK - timedelta(minutes=1)
        started = time.perf_counter()
        records = _records(block_calls, moment, offsets)
        for start in range(0, len(records), _BATCH):
            result = await apply_batch(
                connection, records[start : start + _BATCH], _NoDeadLetters(), finished_at=moment
            )
            statuses.update(event.status.value for event in result.finished)
        await _send_acks(connection)
        apply_s += time.perf_counter() - started
        started = time.perf_counter()
        run = await run_retention(connection, policy, moment)
        spent = time.perf_counter() - started
        prune_s += spent
        if run is not None:
            prunes.append(
                {
                    "at": moment.isoformat(),
                    "seconds": round(spent, 3),
                    "events_partitions_dropped": len(run.prune.events_partitions_dropped),
                    "events_folded": run.prune.events_folded,
                    "tenants_checkpointed": run.prune.tenants_checkpointed,
                    "ack_partitions_dropped": len(run.prune.ack_partitions_dropped),
                    "steps_s": {step: round(seconds, 3) for step, seconds in run.prune.seconds.items()},
                }
            )
    day_prune = max(prunes, key=lambda prune: prune["events_folded"]) if prunes else None
    return {
        "day": number,
        "calls": len(calls),
        "statuses": dict(sorted(statuses.items())),
        "apply_s": round(apply_s, 2),
        "calls_per_s": round(len(calls) / apply_s, 1),
        "prune_s": round(prune_s, 2),
        "day_prune": day_prune,  # the run that dropped a day of events (the most folded), if any
    }


def _block_of(call: AnyCall, day_start: datetime) -> int:
    produced = parse_platform_time(call.timeStamp)
    if produced < day_start:  # a re-sent copy of an earlier day's call: sent again at some time today
        return int(call.timeStamp[-3:]) % _BLOCKS_PER_DAY
    return (produced - day_start) // _BLOCK


def _records(calls: Sequence[AnyCall], accepted_at: datetime, offsets: Any) -> list[ConsumedRecord]:
    records = []
    for call in calls:
        envelope = EventEnvelope.from_call(call, accepted_at)
        for record in encode_event(envelope, _MAX_RECORD_BYTES):
            records.append(ConsumedRecord("soak", 0, next(offsets), record.key, record.value, tuple(record.headers)))
    return records


async def _send_acks(connection: asyncpg.Connection) -> None:
    while claimed := await claim_due_acks(connection, _ACKS_PER_CLAIM, 60.0):
        await record_outcomes(connection, [AckOutcome(ack.ack_id) for ack in claimed])


async def measure(connection: asyncpg.Connection) -> dict[str, dict[str, int]]:
    """Per group: bytes of the tables (heap, TOAST, maps) and of their indexes, partitions summed."""
    sizes = {}
    for group, tables in GROUPS.items():
        # A partitioned table's rows are in its leaves; a plain table has no partition tree but itself.
        row = await connection.fetchrow(
            "WITH leaves AS (SELECT t.relid FROM unnest($1::text[]) AS n(name),"
            "  pg_partition_tree(n.name::regclass) AS t WHERE t.isleaf"
            " UNION SELECT c.oid FROM pg_class c WHERE c.oid = ANY($1::text[]::regclass[]) AND c.relkind = 'r')"
            " SELECT coalesce(sum(pg_table_size(relid)), 0)::bigint AS table_bytes,"
            " coalesce(sum(pg_indexes_size(relid)), 0)::bigint AS index_bytes FROM leaves",
            list(tables),
        )
        sizes[group] = {"table": row["table_bytes"], "index": row["index_bytes"]}
    sizes["database"] = {"table": await connection.fetchval("SELECT pg_database_size(current_database())"), "index": 0}
    return sizes


async def _rows(connection: asyncpg.Connection) -> dict[str, int]:
    return {
        "events": await connection.fetchval("SELECT count(*) FROM events"),
        "ack_outbox": await connection.fetchval("SELECT count(*) FROM ack_outbox"),
        "checkpoints": await connection.fetchval("SELECT count(*) FROM tenant_checkpoints"),
        "events_partitions": await connection.fetchval(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass"
        ),
    }


def _progress(figures: dict[str, Any]) -> str:
    total = sum(size["table"] + size["index"] for group, size in figures["sizes"].items() if group != "database")
    return (
        f"[soak] day {figures['day']:>3}: {figures['calls']:,} calls at {figures['calls_per_s']:,.0f}/s,"
        f" prune {(figures['day_prune'] or {}).get('seconds', 0):.2f} s, {figures['rows']['events']:,} events kept,"
        f" {total / 1e6:,.1f} MB in all, {figures['elapsed_s']:.0f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--days", type=int, default=12, help="simulated days (default 12)")
    parser.add_argument("--tenants", type=int, default=1000, help="tenants (default 1000)")
    parser.add_argument("--calls-per-day", type=int, default=10, help="calls per tenant per day (default 10)")
    parser.add_argument("--retention-days", type=int, default=3, help="SYNCPIPE_RETENTION_EVENTS_DAYS (default 3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--smoke", action="store_true", help="20 tenants, 6 days, 2 days kept: checks it runs")
    parser.add_argument("--database-url", help="a server to create the soak's database on (default: embedded)")
    parser.add_argument("--output", type=Path, default=REPO / "benchmarks" / "results" / "soak.json")
    args = parser.parse_args(argv)
    if args.smoke:
        args.days, args.tenants, args.calls_per_day, args.retention_days = 6, 20, 10, 2
    shape = SoakShape(tenants=args.tenants, calls_per_day=args.calls_per_day)
    policy = RetentionPolicy(
        events=timedelta(days=args.retention_days), sent_acks=timedelta(hours=1), dead_letters=timedelta(days=30)
    )
    started_at, clock = datetime.now(UTC), time.monotonic()
    if args.database_url:
        results = asyncio.run(_on_server(args.database_url, shape, args.days, policy, args.seed))
    else:
        with EmbeddedPostgres(durable=True) as postgres:
            results = asyncio.run(_on_server(postgres.dsn, shape, args.days, policy, args.seed))
    document = {
        "schema": "syncpipe-soak/1",
        "command": shlex.join(["python", "-m", "benchmarks.soak", *(sys.argv[1:] if argv is None else argv)]),
        "started_at": started_at.isoformat(),
        "elapsed_s": round(time.monotonic() - clock, 1),
        "machine": machine(),
        "config": {
            "days": args.days,
            "tenants": args.tenants,
            "calls_per_tenant_per_day": args.calls_per_day,
            "retention_events_days": args.retention_days,
            "retention_sent_acks_hours": 1,
            "departments_per_tenant": shape.departments,
            "users_per_tenant": shape.users,
            "resent_share": shape.resent_share,
        },
        **results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(render_days(document))
    return 0


async def _on_server(
    server_dsn: str, shape: SoakShape, days: int, policy: RetentionPolicy, seed: int
) -> dict[str, Any]:
    return await soak(await create_database(server_dsn, "soak"), shape, days, policy, seed)


if __name__ == "__main__":
    sys.exit(main())
