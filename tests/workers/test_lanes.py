"""A batch applied in lanes of whole partitions, concurrently, each on its own connection.

The split itself is pure. The loop runs on a real Postgres with a small consumer of our own (records
in memory, offsets, seeks and pauses as aiokafka's consumer does them), so the test can look at the
database at the moment offsets are committed: one lane's connection is killed in the middle of its
transaction, and the other lane's offsets are committed while nothing of the killed lane's batch is
in the database and none of its partitions' offsets move; then it is applied in order, once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from runtime.retry import RetryPolicy
from schemas.calls import Interface, parse_call
from schemas.envelope import EventEnvelope, encode_event
from workers.applier.batch import BatchResult
from workers.applier.consumer import BatchLoop
from workers.applier.lanes import split_into_lanes
from workers.applier.records import DeadLetter

TOPIC = "events"
KILL_MARKER = "kill this connection"
# Records per partition, fetched PER_FETCH at a time; the offsets of partition 1 whose batch is killed.
COUNT, PER_FETCH = 40, 10
KILLED = range(20, 30)


def tp(partition: int) -> TopicPartition:
    return TopicPartition(TOPIC, partition)


# -- the split --------------------------------------------------------------------------------


def test_every_partition_goes_to_exactly_one_lane_and_lanes_are_balanced_by_records() -> None:
    fetched = {tp(0): [1] * 500, tp(1): [1] * 400, tp(2): [1] * 300, tp(3): [1] * 200, tp(4): [1] * 100}
    lanes = split_into_lanes(fetched, 2)
    assert len(lanes) == 2
    assert sorted(p for lane in lanes for p in lane) == sorted(fetched)
    assert sorted(sum(len(records) for records in lane.values()) for lane in lanes) == [700, 800]
    assert all(lane[p] is fetched[p] for lane in lanes for p in lane)


def test_no_lane_is_empty_and_one_lane_takes_everything() -> None:
    fetched = {tp(3): ["a", "b"], tp(7): ["c"]}
    assert split_into_lanes(fetched, 4) == [{tp(3): ["a", "b"]}, {tp(7): ["c"]}]
    assert split_into_lanes(fetched, 1) == [fetched]
    assert split_into_lanes({}, 2) == []
    with pytest.raises(ValueError, match="at least 1"):
        split_into_lanes(fetched, 0)


# -- the loop on a real Postgres ----------------------------------------------------------------


class InMemoryConsumer:
    """The part of AIOKafkaConsumer that BatchLoop uses, over records held in memory.

    Each fetch takes up to `per_partition` records from every partition that is not paused, from
    its position on; `commit` looks at the database first (`on_commit`), then records the offsets;
    `all_committed` is set once every partition's offsets are committed to its end.
    """

    def __init__(self, records: Mapping[TopicPartition, list[ConsumerRecord[bytes, bytes]]], per_partition: int):
        self.records = records
        self.per_partition = per_partition
        self.position = dict.fromkeys(records, 0)
        self.committed: list[dict[TopicPartition, int]] = []
        self.on_commit: list[object] = []  # what `inspect` returned at each commit
        self.inspect: object = None
        self._paused: set[TopicPartition] = set()
        self._highest: dict[TopicPartition, int] = {}
        self.all_committed = asyncio.Event()

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[object]]:
        fetched = {}
        for partition, records in self.records.items():
            if partition in self._paused or self.position[partition] >= len(records):
                continue
            start = self.position[partition]
            fetched[partition] = records[start : start + self.per_partition]
            self.position[partition] = start + len(fetched[partition])
        if not fetched:
            await asyncio.sleep(min(timeout_ms, 10) / 1000)
        return fetched  # type: ignore[return-value]

    async def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata]) -> None:
        if callable(self.inspect):
            self.on_commit.append(await self.inspect())
        self.committed.append({partition: meta.offset for partition, meta in offsets.items()})
        self._highest.update(self.committed[-1])
        if all(self._highest.get(partition) == len(records) for partition, records in self.records.items()):
            self.all_committed.set()

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.position[partition] = offset

    def assignment(self) -> set[TopicPartition]:
        return set(self.records)

    def pause(self, *partitions: TopicPartition) -> None:
        self._paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self._paused.difference_update(partitions)

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)


class NoDeadLetters:
    async def send(self, letters: Sequence[DeadLetter]) -> None:
        raise AssertionError(f"nothing here should be dead-lettered: {letters}")


class CountingPool:
    """A real pool that remembers how many of its connections were in use at once."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.in_use = 0
        self.most_in_use = 0

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._pool.acquire() as connection:
            self.in_use += 1
            self.most_in_use = max(self.most_in_use, self.in_use)
            try:
                yield connection
            finally:
                self.in_use -= 1


def renames(tenant: str, partition: int) -> list[ConsumerRecord[bytes, bytes]]:
    """A department created, then renamed `COUNT - 1` times, one second apart: every change is
    `applied` only if they are applied in order (an earlier one after a later one is `stale`).
    In partition 1, the last rename of the batch `KILLED` (the name a batch writes is its last)
    carries the marker that kills its connection, once."""
    records = []
    for serial in range(COUNT):
        name = KILL_MARKER if partition == 1 and serial == KILLED.stop - 1 else f"name {serial}"
        body = {
            "tenantId": tenant,
            "timeStamp": f"2026010100{serial // 60:02d}{serial % 60:02d}000",
            "flag": 1 if serial == 0 else 2,
            "orgCode": "D1",
            "orgName": name,
        }
        envelope = EventEnvelope.from_call(parse_call(Interface.SINGLE_ORG_SYNC, body), datetime.now(UTC))
        (record,) = encode_event(envelope, 1024 * 1024)
        records.append(
            ConsumerRecord(TOPIC, partition, serial, 0, 0, record.key, record.value, None, 0, 0, tuple(record.headers))
        )
    return records


KILL_ONCE = """
CREATE SEQUENCE kill_once;
CREATE FUNCTION kill_on_marker() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- nextval is not rolled back with the transaction it kills: the marker kills only once.
    IF NEW.org_name = 'kill this connection' AND nextval('kill_once') = 1 THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER kill_on_marker BEFORE UPDATE ON departments
    FOR EACH ROW EXECUTE FUNCTION kill_on_marker();
"""


@pytest.mark.integration
async def test_lanes_apply_concurrently_and_a_connection_killed_mid_batch_commits_only_the_other_lane(
    migrated_url: str, connection: asyncpg.Connection
) -> None:
    await connection.execute(KILL_ONCE)
    consumer = InMemoryConsumer({tp(0): renames("lane-a", 0), tp(1): renames("lane-b", 1)}, PER_FETCH)

    async def events_by_partition() -> dict[int, list[int]]:
        rows = await connection.fetch("SELECT kafka_partition, kafka_offset FROM events ORDER BY kafka_offset")
        found: dict[int, list[int]] = {0: [], 1: []}
        for row in rows:
            found[row["kafka_partition"]].append(row["kafka_offset"])
        return found

    consumer.inspect = events_by_partition
    pool = await asyncpg.create_pool(migrated_url, min_size=1, max_size=3)
    try:
        counting = CountingPool(pool)
        loop = BatchLoop(
            consumer,  # type: ignore[arg-type]
            counting,  # type: ignore[arg-type]
            NoDeadLetters(),
            batch_max_records=2 * PER_FETCH,
            max_attempts=3,
            lanes=2,
            retry=RetryPolicy(first_s=0.01, cap_s=0.05),
        )
        running = asyncio.create_task(loop.run())
        async with asyncio.timeout(30):
            await consumer.all_committed.wait()
        loop.stopping.set()
        await running
    finally:
        await pool.close()

    assert counting.most_in_use == 2  # the two lanes held a connection each at the same time
    # Partition 1's lane was killed in the middle of the batch KILLED. The commit after that covers
    # partition 0's batch only, and nothing of the killed batch is in the database.
    failure = next(i for i, commit in enumerate(consumer.committed) if tp(1) not in commit)
    assert consumer.committed[failure] == {tp(0): KILLED.stop}
    assert consumer.on_commit[failure] == {0: list(range(KILLED.stop)), 1: list(range(KILLED.start))}
    highest: dict[TopicPartition, int] = {}
    for commit in consumer.committed:  # a partition's offset only ever rises
        for partition, offset in commit.items():
            assert offset > highest.get(partition, 0)
            highest[partition] = offset
    # Then everything once, in each partition's order (a change applied after a later one is stale).
    statuses = await connection.fetch(
        "SELECT e.kafka_partition, e.kafka_offset, e.status FROM events e"
        " JOIN ack_outbox a USING (event_id) ORDER BY a.ack_id"
    )
    for partition in (0, 1):
        rows = [row for row in statuses if row["kafka_partition"] == partition]
        assert [row["kafka_offset"] for row in rows] == list(range(COUNT))
        assert {row["status"] for row in rows} == {"applied"}
    names = await connection.fetch("SELECT tenant_id, org_name FROM departments ORDER BY tenant_id")
    assert [(row["tenant_id"], row["org_name"]) for row in names] == [
        ("lane-a", f"name {COUNT - 1}"),
        ("lane-b", f"name {COUNT - 1}"),
    ]
    # The marker was written twice: killed the first time, committed the second.
    assert await connection.fetchval("SELECT last_value FROM kill_once") == 2


@pytest.mark.integration
async def test_a_lane_holding_more_than_a_batch_applies_it_in_transactions_of_a_batch_each(
    migrated_url: str, connection: asyncpg.Connection
) -> None:
    """The worker fetches `batch_max_records` per lane; one partition that brought them all (its
    lane's share and the other's) still goes to Postgres `batch_max_records` at a time, in order."""
    consumer = InMemoryConsumer({tp(0): renames("one-lane", 0)}, per_partition=COUNT)
    sizes: list[int] = []

    async def observe(result: BatchResult) -> None:
        sizes.append(len(result.finished))

    pool = await asyncpg.create_pool(migrated_url, min_size=1, max_size=3)
    try:
        loop = BatchLoop(
            consumer,  # type: ignore[arg-type]
            pool,
            NoDeadLetters(),
            batch_max_records=COUNT // 4,
            max_attempts=3,
            lanes=2,
            observer=observe,
        )
        running = asyncio.create_task(loop.run())
        async with asyncio.timeout(30):
            await consumer.all_committed.wait()
        loop.stopping.set()
        await running
    finally:
        await pool.close()

    assert sizes == [COUNT // 4] * 4
    assert consumer.committed == [{tp(0): COUNT}]
    statuses = await connection.fetch("SELECT status FROM events")
    assert [row["status"] for row in statuses] == ["applied"] * COUNT
