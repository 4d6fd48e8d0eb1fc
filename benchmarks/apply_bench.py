"""Apply: incremental changes per second from Kafka to committed in Postgres, for syncpipe's worker and
for the naive one-event-per-transaction consumer, next to the ceiling of a bare multi-row insert of
the same rows; and (growth) the worker's cost per event over few and over many tenants.

How a consumer is timed. It runs as its own process on a fresh topic, group and database; a warm-up
set of events is applied first (the group is joined, the connections are open, the code is warm).
Then the process is paused (SIGSTOP), the measured events are produced, and it is resumed: the
figure is events / (last commit of an `events` row - resume), both read from the same clock, the
commit time from Postgres itself (track_commit_timestamp). So the producer's CPU does not compete
with the consumer and the start-up cost is not counted.
"""

from __future__ import annotations

import json
import time
from typing import Any

import asyncpg

from benchmarks.config import BenchConfig
from benchmarks.services import (
    BenchServices,
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

# Events applied before measuring: enough for every partition to have been fetched once.
_WARMUP_EVENTS = 300
# Cheap progress probe: ack rows are numbered by an identity column, one per finished event.
_PROGRESS = "SELECT coalesce(max(ack_id), 0) FROM ack_outbox"
_CONSUMERS = {
    "syncpipe": ["-m", "syncpipe", "worker"],
    "naive": ["-m", "benchmarks.naive_consumer"],
}


def change_records(events: int, tenants: int) -> list[KafkaRecord]:
    max_record_bytes = Settings.model_fields["max_record_bytes"].default
    return records_of(Interface.SINGLE_ORG_SYNC, department_changes(run_tag(), events, tenants), max_record_bytes)


async def _topics(services: BenchServices, pipeline: Pipeline) -> None:
    await ensure_topics(
        Settings(
            kafka_bootstrap_servers=services.kafka.bootstrap_servers,
            events_topic=pipeline.topic,
            dead_letter_topic=pipeline.env["SYNCPIPE_DEAD_LETTER_TOPIC"],
        )
    )


async def measure_consumer(services: BenchServices, kind: str, events: int, tenants: int) -> dict[str, Any]:
    """Apply `events` incremental changes over `tenants` tenants with one consumer process."""
    pipeline = await services.pipeline()
    await _topics(services, pipeline)
    warmup = change_records(_WARMUP_EVENTS, min(tenants, _WARMUP_EVENTS))
    measured = change_records(events, tenants)
    consumer = services.start(f"consumer-{kind}", _CONSUMERS[kind], pipeline.env)
    try:
        async with connected(pipeline.database_url) as connection:
            await fill_topic(services.kafka.bootstrap_servers, pipeline.topic, warmup)
            await wait_for_rows(connection, _PROGRESS, len(warmup), timeout_s=120, alive=[consumer])
            consumer.pause()
            paused_at = time.monotonic()
            await fill_topic(services.kafka.bootstrap_servers, pipeline.topic, measured)
            paused_s = time.monotonic() - paused_at
            cpu_before = consumer.cpu_s()
            resumed_at = time.time()
            consumer.resume()
            await wait_for_rows(connection, _PROGRESS, len(warmup) + events, timeout_s=600, alive=[consumer])
            elapsed = await last_commit_unix(connection, "events") - resumed_at
            cpu = consumer.cpu_s() - cpu_before
            applied = await connection.fetchval("SELECT count(*) FROM events WHERE status = 'applied'")
            departments = await connection.fetchval("SELECT count(*) FROM departments")
    finally:
        services.stop(consumer)
    return {
        "events": events,
        "tenants": tenants,
        "elapsed_s": elapsed,
        "events_s": events / elapsed,
        "us_per_event": elapsed / events * 1e6,
        "consumer_cpu_us_per_event": cpu / events * 1e6,
        "applied_rows": applied,
        "departments": departments,
        # Must stay well under the session timeout, or the group would have rebalanced meanwhile.
        "paused_s": paused_s,
    }


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
