"""The part of the events topic a replay reads, read by a consumer of its own.

The consumer has no group: it assigns partitions itself, commits nothing and never joins the
workers' group, so a replay cannot take partitions from live workers or move their offsets.

A window is half-open per partition, [start, end). It starts at an offset (`--from-offset P:O`)
or at the first record a broker timestamps at or after a time (`offsets_for_times`; the timestamp
is the gateway's produce time, i.e. when the call was accepted). It ends at an offset or time given
the same way, and at the latest at the partition's end as seen when the replay starts, so that a
replay finishes even while calls keep arriving.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition

from workers.applier.records import ConsumedRecord
from workers.replay.exceptions import BadWindow, ReplayUnavailable
from workers.replay.progress import Progress

# Records handed out per fetch: a replay batch is built from several fetches, so this only bounds memory.
_FETCH_MAX_RECORDS = 2000
# How long one fetch waits for records that must exist (they are below the end seen at start).
_FETCH_TIMEOUT_MS = 1000
# A broker that returns nothing for this long although records remain is treated as unavailable.
_STALL_S = 30.0


@dataclass(frozen=True)
class WindowSpec:
    """Where a replay starts and ends; `from_offsets`/`until_offsets` map partition -> offset."""

    since: datetime | None = None
    from_offsets: Mapping[int, int] = field(default_factory=dict)
    until: datetime | None = None
    until_offsets: Mapping[int, int] = field(default_factory=dict)


class PartitionRange(NamedTuple):
    partition: int
    start: int
    end: int  # exclusive

    @property
    def size(self) -> int:
        return max(0, self.end - self.start)


def standalone_consumer(bootstrap_servers: str, max_record_bytes: int) -> AIOKafkaConsumer:
    """A consumer outside every group, committing nothing; `start()` it, `stop()` it."""
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        # One record may be a whole envelope part (max_record_bytes): fetch several at once.
        max_partition_fetch_bytes=max(max_record_bytes * 2, 1024 * 1024),
        fetch_max_bytes=64 * 1024 * 1024,
    )


async def plan_window(
    consumer: AIOKafkaConsumer, topic: str, spec: WindowSpec, progress: Progress
) -> list[PartitionRange]:
    """The offsets to read per partition; raise BadWindow for an unknown topic/partition or an empty spec."""
    # The consumer's metadata covers only the topics it tracks: Apache Kafka answers a Metadata request
    # naming no topic with none (Tansu with all of them), so a standalone consumer must name this one.
    await consumer._client.add_topic(topic)
    known = consumer.partitions_for_topic(topic)
    if not known:
        raise BadWindow(f"topic {topic!r} does not exist on the broker")
    if spec.from_offsets:
        unknown = sorted(set(spec.from_offsets) - known)
        if unknown:
            raise BadWindow(f"topic {topic!r} has no partition {unknown[0]} (it has 0..{max(known)})")
        partitions = sorted(spec.from_offsets)
    elif spec.since is not None:
        partitions = sorted(known)
    else:
        raise BadWindow("a window needs a start: a time or partition offsets")
    if spec.since is not None and spec.until is not None and spec.until <= spec.since:
        raise BadWindow(f"the window ends ({spec.until.isoformat()}) before it starts ({spec.since.isoformat()})")
    tps = [TopicPartition(topic, partition) for partition in partitions]
    firsts = await consumer.beginning_offsets(tps)
    lasts = await consumer.end_offsets(tps)
    if spec.from_offsets:
        starts = {tp: spec.from_offsets[tp.partition] for tp in tps}
    else:
        starts = await _offsets_at(consumer, tps, spec.since, lasts)
    ends = dict(lasts)
    if spec.until is not None:
        at_until = await _offsets_at(consumer, tps, spec.until, lasts)
        ends = {tp: min(ends[tp], at_until[tp]) for tp in tps}
    for tp in tps:
        until = spec.until_offsets.get(tp.partition)
        if until is not None:
            if until < starts[tp]:
                raise BadWindow(f"partition {tp.partition}: the window ends at {until}, before its start {starts[tp]}")
            ends[tp] = min(ends[tp], until)
    ranges = []
    for tp in tps:
        start = starts[tp]
        if start < firsts[tp]:
            progress.note(
                f"partition {tp.partition}: offsets {start}..{firsts[tp] - 1} are past retention;"
                f" starting at {firsts[tp]}"
            )
            start = firsts[tp]
        elif not spec.from_offsets and start == firsts[tp] > 0:
            progress.note(
                f"partition {tp.partition}: the window reaches its oldest retained record (offset {start});"
                " older records are past retention"
            )
        ranges.append(PartitionRange(tp.partition, start, max(start, ends[tp])))
    return ranges


async def _offsets_at(
    consumer: AIOKafkaConsumer, tps: list[TopicPartition], moment: datetime | None, lasts: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Per partition, the first offset stamped at or after `moment`; the partition's end if none is.

    Some brokers (Tansu) answer "none" as offset 0 with timestamp -1 instead of no answer: both mean the end.
    """
    assert moment is not None
    found = await consumer.offsets_for_times({tp: int(moment.timestamp() * 1000) for tp in tps})
    return {tp: lasts[tp] if (hit := found.get(tp)) is None or hit.timestamp < 0 else hit.offset for tp in tps}


async def read_window(
    consumer: AIOKafkaConsumer, topic: str, ranges: list[PartitionRange]
) -> AsyncIterator[list[ConsumedRecord]]:
    """The window's records, fetch by fetch, in offset order within each partition."""
    pending = {TopicPartition(topic, r.partition): r for r in ranges if r.size}
    if not pending:
        return
    consumer.assign(list(pending))
    for tp, window in pending.items():
        consumer.seek(tp, window.start)
    last_progress = time.monotonic()
    while pending:
        fetched = await consumer.getmany(*pending, timeout_ms=_FETCH_TIMEOUT_MS, max_records=_FETCH_MAX_RECORDS)
        records = [
            ConsumedRecord(m.topic, m.partition, m.offset, m.key, m.value, tuple(m.headers or ()))
            for tp, messages in fetched.items()
            for m in messages
            if m.offset < pending[tp].end
        ]
        for tp in list(pending):
            if await consumer.position(tp) >= pending[tp].end:
                consumer.pause(tp)
                del pending[tp]
        if records:
            last_progress = time.monotonic()
            yield records
        elif pending and time.monotonic() - last_progress > _STALL_S:
            raise ReplayUnavailable(f"the broker returned nothing for {_STALL_S:.0f} s with records left to read")
        else:
            await asyncio.sleep(0)
