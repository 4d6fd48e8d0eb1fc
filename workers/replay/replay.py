"""Replay: re-feed a window of the events topic through the normal apply path.

Safe by construction (SPEC §4, §5): an event the database already has is left alone, a new one goes
through `apply_batch` exactly as a worker would apply it (dedupe rows, tenant locks, version-guarded
rules, dead letters), so a replay can only bring state to where it should be, and a second replay of
the same window changes nothing. Typical uses: events whose rows and effects were lost (a restored
database, a bad deploy that recorded events without applying them, rows deleted by hand).

Events already recorded are skipped before `apply_batch` rather than fed to it: it would count a
re-read record of a re-sent call as one more duplicate each time, and the result is the same. The
other records of an event the replay itself re-fed (the platform re-sent the call) are fed too, so
that the event's duplicate count is restored with it.

Which horizon bounds it (docs/retention.md): the topic's, SYNCPIPE_TOPIC_RETENTION_MS; a
window cannot start before the oldest record the broker still has. The database's own history is
bounded by SYNCPIPE_RETENTION_EVENTS_DAYS: an event in the window that finished before the database's
horizon is no longer known to `events`, so it is fed again as new, and the version rules make it
`stale` (it is acknowledged again, with that status). The report names both horizons.

A batch that fails for a non-retriable reason is fed again event by event; an event that still
fails is reported (`failed`) and left to the live path, which dead-letters what it cannot apply:
the replay adds no failure policy of its own. A retriable failure (Postgres or Kafka down) stops the
replay with the counts so far; running it again is safe.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer

from runtime.outages import is_retriable
from runtime.settings import Settings
from workers.applier.batch import apply_batch
from workers.applier.records import DeadLetterSink
from workers.replay.log_window import PartitionRange, WindowSpec, plan_window, read_window, standalone_consumer
from workers.replay.progress import Progress
from workers.replay.selection import EventGrouper, RecordFilter, ReplayEvent
from workers.retention.horizons import read_horizons

# Event ids a dry run lists (the counts cover all of them): enough to spot-check, short enough to read.
_SAMPLE_SIZE = 20


@dataclass
class ReplayReport:
    dry_run: bool
    window: list[PartitionRange] = field(default_factory=list)
    records_read: int = 0
    records_matched: int = 0
    events_matched: int = 0
    already_had: Counter[str] = field(default_factory=Counter)  # by the status recorded for the event
    refed: Counter[str] = field(default_factory=Counter)  # events fed (or to feed), by interface
    # Of those, how many were another record of an event fed earlier in this replay (a re-sent call):
    # apply_batch counts such a record as a duplicate, as the live worker did when it first read it.
    refed_copies: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # status each fed event finished with
    failed: list[tuple[str, str]] = field(default_factory=list)  # (event id, error) that would not apply
    incomplete_uploads: int = 0
    sample: list[str] = field(default_factory=list)
    # What bounds it: the topic keeps records this long (SYNCPIPE_TOPIC_RETENTION_MS, -1: forever); the
    # database forgot events finished before `history_pruned_before`.
    kafka_retention_ms: int = 0
    history_pruned_before: datetime | None = None  # None: no prune has run
    elapsed_s: float = 0.0

    @property
    def applied(self) -> int:
        return self.outcomes["applied"]

    @property
    def dead_lettered(self) -> int:
        return self.outcomes["dead_lettered"]

    def to_json(self) -> dict[str, Any]:
        return {
            "dryRun": self.dry_run,
            "window": [{"partition": p, "start": s, "end": e} for p, s, e in self.window],
            "recordsRead": self.records_read,
            "recordsMatched": self.records_matched,
            "eventsMatched": self.events_matched,
            "alreadyHad": sum(self.already_had.values()),
            "alreadyHadByStatus": dict(sorted(self.already_had.items())),
            "refed": sum(self.refed.values()),
            "refedByInterface": dict(sorted(self.refed.items())),
            "refedCopies": self.refed_copies,
            "applied": self.applied,
            "deadLettered": self.dead_lettered,
            "outcomes": dict(sorted(self.outcomes.items())),
            "failed": [{"eventId": event_id, "error": error} for event_id, error in self.failed],
            "incompleteUploads": self.incomplete_uploads,
            "sample": self.sample,
            "horizons": {
                "kafkaRetentionMs": self.kafka_retention_ms,
                "databaseHistoryPrunedBefore": self.history_pruned_before.isoformat()
                if self.history_pruned_before
                else None,
            },
            "elapsedS": round(self.elapsed_s, 3),
        }


@dataclass
class Replayer:
    """Replays windows of `settings.events_topic` into the database `connection` is open on.

    Each run reads with a consumer of its own, outside every group (workers/replay/log_window.py).
    """

    connection: asyncpg.Connection
    settings: Settings
    dead_letters: DeadLetterSink | None  # None only for dry runs, which feed nothing
    progress: Progress

    async def run(self, spec: WindowSpec, record_filter: RecordFilter, *, dry_run: bool) -> ReplayReport:
        if not dry_run and self.dead_letters is None:
            raise ValueError("a replay that applies needs a dead-letter sink")
        if not self.settings.kafka_bootstrap_servers:
            raise ValueError("kafka_bootstrap_servers is not set")
        consumer = standalone_consumer(self.settings.kafka_bootstrap_servers, self.settings.max_record_bytes)
        try:
            await consumer.start()
            return await self._run(consumer, spec, record_filter, dry_run=dry_run)
        finally:
            await consumer.stop()  # also releases the connections of a consumer that failed to start

    async def _run(
        self, consumer: AIOKafkaConsumer, spec: WindowSpec, record_filter: RecordFilter, *, dry_run: bool
    ) -> ReplayReport:
        started = time.monotonic()
        self._fed: set[str] = set()
        topic = self.settings.events_topic
        report = ReplayReport(dry_run=dry_run, kafka_retention_ms=self.settings.topic_retention_ms)
        events_horizon = (await read_horizons(self.connection)).get("events")
        report.history_pruned_before = events_horizon.horizon if events_horizon else None
        report.window = await plan_window(consumer, topic, spec, self.progress)
        total = sum(window.size for window in report.window)
        grouper = EventGrouper()
        pending: list[ReplayEvent] = []
        self.progress.update(0, total)
        async for records in read_window(consumer, topic, report.window):
            report.records_read += len(records)
            matched = [record for record in records if record_filter.matches(record)]
            report.records_matched += len(matched)
            pending += grouper.add(matched)
            # Batches as large as a worker's: one transaction per batch_max_records records.
            if sum(len(event.records) for event in pending) >= self.settings.batch_max_records:
                await self._feed(pending, report, dry_run=dry_run)
                pending = []
            self.progress.update(report.records_read, total)
        await self._feed(pending, report, dry_run=dry_run)
        report.incomplete_uploads = grouper.incomplete_uploads
        if report.incomplete_uploads:
            self.progress.note(
                f"{report.incomplete_uploads} uploads in parts were cut by the window and skipped:"
                " widen the window to include them"
            )
        report.elapsed_s = time.monotonic() - started
        return report

    async def _feed(self, events: Sequence[ReplayEvent], report: ReplayReport, *, dry_run: bool) -> None:
        if not events:
            return
        report.events_matched += len(events)
        rows = await self.connection.fetch(
            "SELECT event_id, status FROM events WHERE event_id = ANY($1::text[])", [e.event_id for e in events]
        )
        known = {row["event_id"]: row["status"] for row in rows}
        fresh = []
        for event in events:
            if event.event_id in self._fed:
                # Another record of an event this replay re-fed (a re-sent call): fed too, so that
                # apply_batch counts it as the duplicate it was; known to `events` only by our feeding.
                report.refed_copies += 1
            elif event.event_id in known:
                report.already_had[known[event.event_id]] += 1
                continue
            else:
                self._fed.add(event.event_id)
                if len(report.sample) < _SAMPLE_SIZE:
                    report.sample.append(event.event_id)
            fresh.append(event)
            report.refed[event.interface] += 1
        if fresh and not dry_run:
            await self._apply(fresh, report)

    async def _apply(self, events: Sequence[ReplayEvent], report: ReplayReport) -> None:
        assert self.dead_letters is not None
        try:
            result = await apply_batch(
                self.connection,
                [record for event in events for record in event.records],
                self.dead_letters,
                ready_url_template=self.settings.instance_ready_url_template,
            )
        except Exception as exc:
            if is_retriable(exc):
                raise
            if len(events) == 1:
                report.failed.append((events[0].event_id, repr(exc)))
                return
            for event in events:
                await self._apply([event], report)
            return
        report.outcomes.update(event.status.value for event in result.finished)
        if result.redeliveries:
            # Recorded by a worker between our check and the batch: already had after all.
            report.outcomes["redelivered"] += result.redeliveries
