"""Apply: incremental changes per second from Kafka to committed in Postgres, for syncpipe's worker and
for the naive one-event-per-transaction consumer, next to the ceiling of a bare multi-row insert of
the same rows; (growth) the worker's cost per event over few and over many tenants; and (scale) the
same events applied by 1, 2 and 3 worker processes in one consumer group.

How a consumer is timed. It runs as its own process on a fresh topic, group and database; a warm-up
set of events is applied first (the group is joined, the connections are open, the code is warm).
Then the process is paused (SIGSTOP), the measured events are produced, and it is resumed: the
figure is events / (last commit of an `events` row - resume), both read from the same clock, the
commit time from Postgres itself (track_commit_timestamp). So the producer's CPU does not compete
with the consumer and the start-up cost is not counted. Several processes of one group are paused
only once the broker reports their group stable with all of them in it, so no rebalance is timed.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from benchmarks.config import BenchConfig
from benchmarks.services import (
    BenchmarkError,
    BenchServices,
    Child,
    Pipeline,
    connected,
    fill_topic,
    last_commit_unix,
    wait_for_rows,
)
from benchmarks.workload import department_changes, records_of, run_tag
from runtime.settings import Settings
from runtime.topics import ensure_topics
from schemas.calls import Interface
from schemas.envelope import EventEnvelope, KafkaRecord, decode_record
from schemas.timestamps import parse_platform_time
from syncpipe.embedded.process import free_port

# Events applied before measuring: enough for every partition to have been fetched once.
_WARMUP_EVENTS = 300
# Cheap progress probe: ack rows are numbered by an identity column, one per finished event.
_PROGRESS = "SELECT coalesce(max(ack_id), 0) FROM ack_outbox"
_CONSUMERS = {
    "syncpipe": ["-m", "syncpipe", "worker"],
    "naive": ["-m", "benchmarks.naive_consumer"],
}
# Worker processes of the scale section: one per core of the benchmark machine, and one more.
SCALE_WORKERS = (1, 2, 3)
# A group of several members settles in a rebalance or two: seconds, more on a loaded machine.
_GROUP_STABLE_TIMEOUT_S = 120.0


def change_records(events: int, tenants: int) -> list[KafkaRecord]:
    max_record_bytes = Settings.model_fields["max_record_bytes"].default
    return records_of(Interface.SINGLE_ORG_SYNC, department_changes(run_tag(), events, tenants), max_record_bytes)


async def measure_consumer(
    services: BenchServices, kind: str, events: int, tenants: int, processes: int = 1
) -> dict[str, Any]:
    """Apply `events` incremental changes over `tenants` tenants with `processes` consumer processes
    of one group (each with its own ops port)."""
    pipeline = await services.pipeline()
    await ensure_topics(services.topic_settings(pipeline))
    warmup = change_records(_WARMUP_EVENTS, min(tenants, _WARMUP_EVENTS))
    measured = change_records(events, tenants)
    consumers = [
        services.start(
            f"consumer-{kind}", _CONSUMERS[kind], {**pipeline.env, "SYNCPIPE_WORKER_OPS_PORT": str(free_port())}
        )
        for _ in range(processes)
    ]
    try:
        async with connected(pipeline.database_url) as connection:
            await fill_topic(services.kafka.bootstrap_servers, pipeline.topic, warmup)
            await wait_for_rows(connection, _PROGRESS, len(warmup), timeout_s=120, alive=consumers)
            if processes > 1:
                await _wait_for_stable_group(services, pipeline, processes, consumers)
            for consumer in consumers:
                consumer.pause()
            paused_at = time.monotonic()
            await fill_topic(services.kafka.bootstrap_servers, pipeline.topic, measured)
            paused_s = time.monotonic() - paused_at
            cpu_before = sum(consumer.cpu_s() for consumer in consumers)
            resumed_at = time.time()
            for consumer in consumers:
                consumer.resume()
            await wait_for_rows(connection, _PROGRESS, len(warmup) + events, timeout_s=600, alive=consumers)
            elapsed = await last_commit_unix(connection, "events") - resumed_at
            cpu = sum(consumer.cpu_s() for consumer in consumers) - cpu_before
            applied = await connection.fetchval("SELECT count(*) FROM events WHERE status = 'applied'")
            departments = await connection.fetchval("SELECT count(*) FROM departments")
    finally:
        for consumer in consumers:
            services.stop(consumer)
    return {
        "events": events,
        "tenants": tenants,
        "processes": processes,
        "elapsed_s": elapsed,
        "events_s": events / elapsed,
        "us_per_event": elapsed / events * 1e6,
        "consumer_cpu_us_per_event": cpu / events * 1e6,
        "applied_rows": applied,
        "departments": departments,
        # Must stay well under the session timeout, or the group would have rebalanced meanwhile.
        "paused_s": paused_s,
    }


async def _wait_for_stable_group(services: BenchServices, pipeline: Pipeline, members: int, alive: list[Child]) -> None:
    """Until the broker reports the pipeline's consumer group Stable with `members` members."""
    group = pipeline.env["SYNCPIPE_CONSUMER_GROUP"]
    admin = AIOKafkaAdminClient(bootstrap_servers=services.kafka.bootstrap_servers)
    await admin.start()
    try:
        deadline = time.monotonic() + _GROUP_STABLE_TIMEOUT_S
        while True:
            [answer] = await admin.describe_consumer_groups([group])
            [described] = answer.to_object()["groups"]
            state, found = described["state"], len(described["members"])
            if state == "Stable" and found == members:
                return
            for child in alive:
                child.check_alive()
            if time.monotonic() > deadline:
                raise BenchmarkError(f"group {group}: {state} with {found} of {members} members")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def _rows(records: list[KafkaRecord]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The department, event and ack rows the worker writes for `records` (one event each)."""
    departments, events, acks = [], [], []
    for offset, record in enumerate(records):
        envelope = decode_record(record.key, record.value, record.headers)
        assert isinstance(envelope, EventEnvelope)
        call = envelope.call
        version = parse_platform_time(envelope.timeStamp)
        departments.append(
            (envelope.tenantId, call["orgCode"], version, False, call.get("orgName", ""), call.get("parentCode", ""))
        )
        events.append(
            (
                envelope.eventId,
                envelope.tenantId,
                envelope.interface.value,
                version,
                0,
                "applied",
                envelope.acceptedAt,
                offset % 12,
                offset,
                json.dumps(call, ensure_ascii=False),
            )
        )
        ack = {"eventId": envelope.eventId, "tenantId": envelope.tenantId, "status": "applied", "resultCode": "000000"}
        acks.append((envelope.eventId, offset % 12, offset, json.dumps(ack)))
    return departments, events, acks


async def measure_bare_insert(services: BenchServices, events: int, tenants: int, batch: int) -> dict[str, Any]:
    """The same rows, written by multi-row INSERTs into empty tables without keys to conflict on:
    one transaction per `batch` events, no dedupe, no versions, no Kafka."""
    pipeline = await services.pipeline()
    departments, event_rows, acks = _rows(change_records(events, tenants))
    async with connected(pipeline.database_url) as connection:
        for table in ("departments", "events", "ack_outbox"):
            await connection.execute(f"CREATE TABLE bare_{table} (LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY)")
        started = time.perf_counter()
        for start in range(0, events, batch):
            async with connection.transaction():
                chunk = slice(start, start + batch)
                await _insert(connection, departments[chunk], event_rows[chunk], acks[chunk])
        elapsed = time.perf_counter() - started
    return {"events": events, "elapsed_s": elapsed, "events_s": events / elapsed}


async def _insert(
    connection: asyncpg.Connection,
    departments: list[tuple[Any, ...]],
    events: list[tuple[Any, ...]],
    acks: list[tuple[Any, ...]],
) -> None:
    await connection.execute(
        "INSERT INTO bare_departments (tenant_id, org_code, version, deleted, org_name, parent_code)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::boolean[], $5::text[], $6::text[])",
        *zip(*departments, strict=True),
    )
    await connection.execute(
        "INSERT INTO bare_events (event_id, tenant_id, interface, time_stamp, test_flag, status, accepted_at,"
        " kafka_partition, kafka_offset, call) SELECT e, t, i, ts, tf, s, a, p, o, c::jsonb FROM unnest($1::text[],"
        " $2::text[], $3::text[], $4::timestamptz[], $5::smallint[], $6::text[], $7::timestamptz[], $8::integer[],"
        " $9::bigint[], $10::text[]) AS x(e, t, i, ts, tf, s, a, p, o, c)",
        *zip(*events, strict=True),
    )
    await connection.execute(
        "INSERT INTO bare_ack_outbox (event_id, kafka_partition, kafka_offset, outcome, body)"
        " SELECT e, p, o, 'applied', b::jsonb"
        " FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::text[]) AS x(e, p, o, b)",
        *zip(*acks, strict=True),
    )


async def run_apply(services: BenchServices, config: BenchConfig) -> dict[str, Any]:
    """`config.rounds` rounds of syncpipe's worker and the naive consumer in turn, best of each."""
    batch = Settings.model_fields["batch_max_records"].default
    rounds: dict[str, list[dict[str, Any]]] = {"syncpipe": [], "naive": []}
    for _ in range(config.rounds):
        rounds["syncpipe"].append(await measure_consumer(services, "syncpipe", config.apply_events, config.tenants))
        rounds["naive"].append(await measure_consumer(services, "naive", config.naive_events, config.tenants))
    syncpipe, naive = (max(rounds[kind], key=lambda figure: figure["events_s"]) for kind in ("syncpipe", "naive"))
    bare = await measure_bare_insert(services, config.apply_events, config.tenants, batch)
    return {
        "tenants": config.tenants,
        "rounds": config.rounds,
        "syncpipe": syncpipe,
        "naive": naive,
        "bare_insert": bare,
        "vs_naive": syncpipe["events_s"] / naive["events_s"],
        "share_of_bare_insert": syncpipe["events_s"] / bare["events_s"],
        "all_rounds": rounds,
    }


async def run_apply_growth(services: BenchServices, config: BenchConfig) -> dict[str, Any]:
    few, many = config.growth_tenants
    runs = {
        str(tenants): await measure_consumer(services, "syncpipe", config.apply_events, tenants)
        for tenants in (few, many)
    }
    return {
        "events": config.apply_events,
        "by_tenants": runs,
        "cost_ratio_many_vs_few": runs[str(many)]["us_per_event"] / runs[str(few)]["us_per_event"],
    }


async def run_scale(services: BenchServices, config: BenchConfig) -> dict[str, Any]:
    """The same number of events applied by 1, 2 and 3 worker processes of one group."""
    runs = {
        str(processes): await measure_consumer(
            services, "syncpipe", config.apply_events, config.tenants, processes=processes
        )
        for processes in SCALE_WORKERS
    }
    one = runs["1"]["events_s"]
    return {
        "events": config.apply_events,
        "tenants": config.tenants,
        "partitions": Settings.model_fields["topic_partitions"].default,
        "cores": os.cpu_count(),
        "by_workers": runs,
        "speedup_vs_one": {workers: run["events_s"] / one for workers, run in runs.items()},
    }
