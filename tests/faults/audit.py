"""What a fault scenario must leave behind: checked, counted, printed and written to a report file.

Once the traffic is over and the consumer group has caught up, for the calls the load sent:
 - every call answered `000000` has exactly one `events` row (none missing, none twice: the row
   count equals the number of distinct accepted event ids) with a final status;
 - no other event has a row: a call whose final answer was anything else left no trace. A call
   answered `000005` while the broker hung can still land once it resumes (its request was on the
   wire); the sender retries it, and the retry that is accepted carries the same event id, so the
   late copy is absorbed as a duplicate of an accepted call and adds no row. A refused call that
   nonetheless has a row is counted as a mismatch;
 - every poison record the scenario wrote straight to the topic (no gateway would) has its row,
   with a status that says it was not applied, and is left out of the model;
 - every re-sent or twice-delivered call was absorbed: the `duplicates` counters add up to at least
   the accepted deliveries beyond the first of each event;
 - each tenant, read through the read API process, equals `expected_state` of the accepted calls;
 - each tenant's events were finished in the order of their Kafka offsets (one partition per
   tenant): no event finished in a later transaction than an event behind it;
 - every accepted event was acknowledged to the platform (the acker process, SPEC §6).

The report counts what the table of a closing note quotes: calls sent, accepted, answered `000005`
(each such POST was re-sent by the load, as the platform would), applied, duplicates absorbed, the
faults survived, mismatches (problems) and events never acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.calls import AnyCall
from syncpipe.simulation.ack_receiver import AckReceiver
from syncpipe.simulation.comparison import snapshot_differences
from syncpipe.simulation.model import expected_state
from syncpipe.simulation.read_api import ReadApiClient
from syncpipe.simulation.snapshot import TenantSnapshot
from tests.faults.cluster import Cluster
from tests.faults.load import PlatformLoad

REPORT_PATH = Path(__file__).with_name("last-report.json")
# The statuses a valid call may end with; a fault must never turn one into failed or dead_lettered.
_CLEAN_STATUSES = frozenset({"applied", "stale", "test"})


@dataclass
class FaultReport:
    scenario: str
    calls_sent: int
    calls_accepted: int
    distinct_events: int
    events_recorded: int
    statuses: dict[str, int]
    duplicates_absorbed: int
    resent_accepted: int
    retried_calls: int
    answered_000005: int
    no_answer: int
    slowest_000005_s: float
    refused: dict[str, int]
    faults: dict[str, int]
    unacknowledged: int
    seconds: float
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def mismatches(self) -> int:
        return len(self.problems)

    def line(self) -> str:
        faults = ", ".join(f"{name} {count}" for name, count in self.faults.items())
        figures = "".join(f", {name} {value}" for name, value in self.figures.items())
        return (
            f"[{self.scenario}] calls sent {self.calls_sent}, accepted {self.calls_accepted} "
            f"({self.distinct_events} distinct, {self.retried_calls} after a retry), answered 000005 "
            f"{self.answered_000005} (slowest {self.slowest_000005_s:.2f} s) and re-sent, no answer "
            f"{self.no_answer}, finally refused {self.refused or 0}, events applied {self.events_recorded} "
            f"{dict(sorted(self.statuses.items()))}, duplicates absorbed {self.duplicates_absorbed}, "
            f"survived: {faults}{figures}, mismatches {self.mismatches}, unacknowledged "
            f"{self.unacknowledged}, {self.seconds:.1f} s"
        )


async def audit(
    scenario: str,
    cluster: Cluster[Any],
    load: PlatformLoad,
    receiver: AckReceiver,
    *,
    faults: dict[str, int],
    started: float,
    poisoned: Collection[str] = (),
    poisoned_statuses: Collection[str] = ("dead_lettered",),
    settle_timeout_s: float = 60.0,
) -> FaultReport:
    """Wait for the pipeline to settle, check it (module docstring) and report.

    `poisoned` are the events of poison records the scenario wrote straight to the events topic:
    each must end with one of `poisoned_statuses` and be acknowledged like any event, and the model
    is computed without them.
    """
    accepted = load.accepted()
    refused = load.refused()
    poisoned = set(poisoned)
    problems: list[str] = []
    await _wait_drained(cluster, accepted.keys() | poisoned, settle_timeout_s, problems)
    rows = await _event_rows(cluster.dsn)

    missing = accepted.keys() - rows.keys()
    problems += [f"accepted event {event} has no events row" for event in sorted(missing)[:20]]
    traces = refused.keys() & rows.keys()
    problems += [f"refused event {event} ({refused[event]}) left a row" for event in sorted(traces)]
    strangers = rows.keys() - accepted.keys() - refused.keys() - poisoned
    problems += [f"events row {event} belongs to no call the platform sent" for event in sorted(strangers)]
    for event, row in sorted(rows.items()):
        allowed = poisoned_statuses if event in poisoned else _CLEAN_STATUSES
        if row["status"] not in allowed:
            problems.append(f"event {event} ended {row['status']} ({row['reason']}), expected one of {sorted(allowed)}")
    for event in sorted(poisoned - rows.keys()):
        problems.append(f"poisoned event {event} never finished")

    resent = load.accepted_deliveries() - len(accepted)
    duplicates = sum(row["duplicates"] for row in rows.values())
    if duplicates < resent:
        problems.append(f"only {duplicates} duplicates counted for {resent} re-sent accepted deliveries")

    applicable = [call for event, call in accepted.items() if event not in poisoned]
    tenants = {str(delivery.call.body["tenantId"]) for delivery in load.deliveries}
    problems += await _state_differences(cluster, applicable, tenants)
    problems += await _order_violations(cluster.dsn)
    unacknowledged = await receiver.wait_for(accepted.keys() | poisoned, timeout_s=30)
    problems += [f"event {event} was never acknowledged" for event in sorted(unacknowledged)[:20]]

    refusals = [post.seconds for post in load.refusals()]
    return FaultReport(
        scenario=scenario,
        calls_sent=len(load.deliveries),
        calls_accepted=load.accepted_deliveries(),
        distinct_events=len(accepted),
        events_recorded=len(rows),
        statuses=dict(Counter(str(row["status"]) for row in rows.values())),
        duplicates_absorbed=duplicates,
        resent_accepted=resent,
        retried_calls=load.retried(),
        answered_000005=len(refusals),
        no_answer=sum(post.status is None for post in load.posts),
        slowest_000005_s=round(max(refusals, default=0.0), 2),
        refused=dict(Counter(refused.values())),
        faults=faults,
        unacknowledged=len(unacknowledged),
        seconds=time.monotonic() - started,
        problems=problems,
    )


def write_report(report: FaultReport) -> None:
    """Print the report line and keep the report in REPORT_PATH, one entry per scenario."""
    print(report.line())
    try:
        reports = json.loads(REPORT_PATH.read_text())
    except (OSError, ValueError):
        reports = {}
    reports[report.scenario] = asdict(report) | {"mismatches": report.mismatches, "line": report.line()}
    REPORT_PATH.write_text(json.dumps(reports, indent=2, ensure_ascii=False, sort_keys=True) + "\n")


async def _wait_drained(cluster: Cluster[Any], event_ids: Iterable[str], timeout_s: float, problems: list[str]) -> None:
    """Until each of `event_ids` has a row and the group committed every partition to its end."""
    wanted = sorted(set(event_ids))
    deadline = time.monotonic() + timeout_s
    bootstrap = cluster.broker.bootstrap_servers
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    connection = await asyncpg.connect(cluster.dsn)
    await admin.start()
    await consumer.start()
    try:
        topic = cluster.events_topic
        # Asked by name: a new client's metadata names no topic, which Apache Kafka answers with none (Tansu: all).
        [description] = await admin.describe_topics([topic])
        partitions = [TopicPartition(topic, p["partition"]) for p in description["partitions"]]
        if not partitions:  # no lag to wait for would pass the check unread
            raise AssertionError(f"the broker's metadata lists no partition of {topic}: {description}")
        while True:
            found = await connection.fetchval("SELECT count(*) FROM events WHERE event_id = ANY($1::text[])", wanted)
            ends = await consumer.end_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(cluster.consumer_group, partitions=partitions)
            lag = sum(ends[tp] - max(committed[tp].offset, 0) if tp in committed else ends[tp] for tp in partitions)
            if found == len(wanted) and lag == 0:
                return
            if time.monotonic() > deadline:
                problems.append(f"not settled after {timeout_s:g} s: {len(wanted) - found} events missing, lag {lag}")
                problems += await _offsets_told_apart(connection, topic, ends, committed)
                return
            await asyncio.sleep(0.25)
    finally:
        await consumer.stop()
        await admin.close()
        await connection.close()


async def _event_rows(dsn: str) -> dict[str, asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT event_id, status, reason, duplicates FROM events")
    finally:
        await connection.close()
    return {row["event_id"]: row for row in rows}


async def _state_differences(cluster: Cluster[Any], calls: list[AnyCall], tenants: Iterable[str]) -> list[str]:
    expected = expected_state(calls)
    problems = []
    async with aiohttp.ClientSession() as session:
        read_api = ReadApiClient(session, cluster.api_url, cluster.api_token)
        for tenant in sorted(tenants):
            served = await read_api.tenant_snapshot(tenant)
            differences = snapshot_differences(expected.get(tenant, TenantSnapshot()), served)
            problems += [f"tenant {tenant}: {line}" for line in differences[:5]]
    return problems


async def _order_violations(dsn: str) -> list[str]:
    """Pairs of one tenant's events finished out of offset order, in different transactions.

    `ack_id` comes from a sequence called in the transaction that finished the event, after it took
    the tenant's lock: across transactions of one tenant it grows in the order they applied.
    `finished_at` (the transaction's start) tells transactions apart; within one, order is free.
    """
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "WITH firsts AS (SELECT e.event_id, e.tenant_id, e.kafka_offset, e.finished_at, a.ack_id"
            " FROM events e JOIN ack_outbox a USING (event_id, kafka_partition, kafka_offset))"
            " SELECT x.tenant_id, x.event_id AS earlier, y.event_id AS later FROM firsts x JOIN firsts y"
            " ON x.tenant_id = y.tenant_id AND x.kafka_offset < y.kafka_offset AND x.ack_id > y.ack_id"
            " AND x.finished_at <> y.finished_at LIMIT 20"
        )
    finally:
        await connection.close()
    return [f"tenant {row['tenant_id']}: {row['later']} finished before {row['earlier']}" for row in rows]


async def _offsets_told_apart(
    connection: asyncpg.Connection, topic: str, ends: dict[TopicPartition, int], committed: dict[TopicPartition, Any]
) -> list[str]:
    """Per unsettled partition: the broker's end offset, the group's committed offset and the highest offset
    an event row records (+1), so a failure says whose count is off (a committed offset past the end is
    either a worker committing what it never read or a broker that served records past its own end)."""
    rows = await connection.fetch(
        "SELECT kafka_partition, max(kafka_offset) + 1 AS next FROM events"
        " WHERE kafka_partition IS NOT NULL GROUP BY kafka_partition"
    )
    recorded = {row["kafka_partition"]: row["next"] for row in rows}
    return [
        f"{topic}[{tp.partition}]: end {end}, committed {committed[tp].offset if tp in committed else None},"
        f" highest offset recorded + 1 {recorded.get(tp.partition)}"
        for tp, end in sorted(ends.items(), key=lambda item: item[0].partition)
        if tp not in committed or committed[tp].offset != end
    ]
