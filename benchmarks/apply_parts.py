"""What applying a batch costs, in one process, without Kafka: `apply_batch` timed on a durable Postgres.

    python -m benchmarks.apply_parts [--events 40000] [--tenants 1000] [--lanes 1,2] [--profile FILE]

The records `python -m benchmarks --only apply` feeds the worker (incremental department changes
over 1,000 tenants), spread over 12 partitions by key, applied in batches of the worker's default
size on a fresh database per variant. With `--lanes 2` the partitions are split in two disjoint
sets, each applied by its own task on its own connection, a batch at a time (as the worker's lanes do). Reported per
variant: changes/s, CPU of this process per change (the Python side), and wall time per change
minus that CPU (the time spent waiting for Postgres, roughly). `--profile FILE` also writes a
cProfile of the one-lane variant and prints its top functions.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
import zlib
from collections.abc import Sequence
from typing import Any

import asyncpg

from benchmarks.apply_bench import change_records
from runtime.postgres.migrate import migrate_url
from runtime.processes import tune_garbage_collector
from runtime.settings import Settings
from syncpipe.embedded import EmbeddedPostgres
from syncpipe.embedded.databases import create_database
from workers.applier.batch import apply_batch
from workers.applier.records import ConsumedRecord, DeadLetter

_PARTITIONS = 12
_WARMUP_EVENTS = 300


class _NoDeadLetters:
    async def send(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            raise AssertionError(f"{len(letters)} dead letters in a benchmark batch")


def consumed(events: int, tenants: int) -> list[ConsumedRecord]:
    """The benchmark's records as the worker receives them, each on its key's partition."""
    offsets = [0] * _PARTITIONS
    records = []
    for record in change_records(events, tenants):
        partition = zlib.crc32(record.key or b"") % _PARTITIONS
        records.append(
            ConsumedRecord("events", partition, offsets[partition], record.key, record.value, tuple(record.headers))
        )
        offsets[partition] += 1
    return records


async def _apply_lane(database_url: str, records: list[ConsumedRecord], batch: int) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        for start in range(0, len(records), batch):
            await apply_batch(connection, records[start : start + batch], _NoDeadLetters())
    finally:
        await connection.close()


async def measure(server_dsn: str, records: list[ConsumedRecord], lanes: int, batch: int) -> dict[str, float]:
    database_url = await create_database(server_dsn, "apply_parts")
    await migrate_url(database_url)
    warmup, measured = records[:_WARMUP_EVENTS], records[_WARMUP_EVENTS:]
    await _apply_lane(database_url, warmup, batch)
    by_lane: list[list[ConsumedRecord]] = [[] for _ in range(lanes)]
    for record in measured:
        by_lane[record.partition % lanes].append(record)
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(_apply_lane(database_url, part, batch) for part in by_lane))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    count = len(measured)
    return {
        "changes_s": count / wall,
        "cpu_us": cpu / count * 1e6,
        "wait_us": (wall - cpu) / count * 1e6,
    }


async def run(args: argparse.Namespace) -> None:
    tune_garbage_collector()
    batch = Settings.model_fields["batch_max_records"].default
    records = consumed(args.events + _WARMUP_EVENTS, args.tenants)
    with EmbeddedPostgres(durable=True) as postgres:
        results: dict[str, dict[str, Any]] = {}
        for round_ in range(args.rounds):
            for lanes in args.lanes:
                figure = await measure(postgres.dsn, records, lanes, batch)
                name = f"{lanes} lane{'s' if lanes > 1 else ''}"
                if name not in results or figure["changes_s"] > results[name]["changes_s"]:
                    results[name] = figure
                print(f"[round {round_ + 1}] {name}: {figure}", file=sys.stderr)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await measure(postgres.dsn, records, 1, batch)
            profiler.disable()
            profiler.dump_stats(args.profile)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    print(f"{'variant':<10} | {'changes/s':>9} | {'CPU us/change':>13} | {'wait us/change':>14}")
    print("-" * 56)
    for name, figure in results.items():
        print(f"{name:<10} | {figure['changes_s']:>9,.0f} | {figure['cpu_us']:>13.1f} | {figure['wait_us']:>14.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.apply_parts", description=__doc__)
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--lanes", type=lambda text: [int(n) for n in text.split(",")], default=[1, 2])
    parser.add_argument("--profile", help="write a cProfile of the one-lane variant here")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
