"""One prune: what passed each retention horizon goes, and nothing else (docs/retention.md).

In order, each step on its own (a step that fails leaves the earlier ones done; the next run goes on):
 1. `events`: every day-partition whose end is at or before now - SYNCPIPE_RETENTION_EVENTS_DAYS is
    folded into its tenants' checkpoints and its instances' (workers/retention/checkpoints.py), then
    detached and dropped; `early_events` rows of
    those days go with it;
 2. `ack_outbox`: every hour-partition whose end is at or before now - SYNCPIPE_RETENTION_SENT_ACKS_HOURS
    and that owes nothing is dropped. One still owing an ack (the platform down for longer than the
    retention) is kept, and dropped by a later run once the ack is sent: an owed ack is never lost.
    Rows only ever go from owed to sent, so "owes nothing" cannot become false before the drop;
 3. `dead_letters`: letters re-driven or dropped before now - SYNCPIPE_RETENTION_DEAD_LETTERS_DAYS
    are deleted (a few rows: a table of failures, not of traffic); letters still waiting stay;
 4. `event_parts`: uploads whose newest part arrived more than a day ago are deleted. Parts of a
    finished upload are deleted when it finishes; these belong to a call the gateway could not store
    whole (it answered 000005, so the sender sent it again under another upload);
 5. each horizon is recorded in `retention_horizons` for the console, the metrics and replay.
The state tables (tenants, departments, users, authorisations, applications, instances) are never touched:
tombstones and floors are state, kept as long as the tenant is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from runtime.postgres.partitions import (
    ACK_OUTBOX,
    EVENTS,
    PartitionedTable,
    drop_partition,
    drop_stray_table,
    list_partitions,
    stray_tables,
)
from runtime.settings import Settings
from workers.retention.checkpoints import fold_partition
from workers.retention.instance_checkpoints import INSTANCE_CHECKPOINTS
from workers.retention.tenant_checkpoints import TENANT_CHECKPOINTS

# Parts of an upload arrive back to back (one gateway request); a day without its next part means
# the request failed long ago.
ABANDONED_UPLOAD_AFTER = timedelta(days=1)
# Dead letters deleted per statement: a short transaction each, however many are due.
_DELETE_CHUNK = 10_000


@dataclass(frozen=True)
class RetentionPolicy:
    events: timedelta
    sent_acks: timedelta
    dead_letters: timedelta
    abandoned_uploads: timedelta = ABANDONED_UPLOAD_AFTER

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(
            events=timedelta(days=settings.retention_events_days),
            sent_acks=timedelta(hours=settings.retention_sent_acks_hours),
            dead_letters=timedelta(days=settings.retention_dead_letters_days),
        )

    def horizons(self, now: datetime) -> dict[str, tuple[timedelta, datetime]]:
        """Per history: (how long it is kept, the instant before which it goes)."""
        kept = {
            "events": self.events,
            "sent_acks": self.sent_acks,
            "dead_letters": self.dead_letters,
            "uploads": self.abandoned_uploads,
        }
        return {history: (span, now - span) for history, span in kept.items()}


@dataclass
class PruneReport:
    now: datetime
    dry_run: bool
    horizons: dict[str, datetime] = field(default_factory=dict)
    events_partitions_dropped: list[str] = field(default_factory=list)
    tenants_checkpointed: int = 0
    instances_checkpointed: int = 0
    events_folded: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (event id, why) not folded
    ack_partitions_dropped: list[str] = field(default_factory=list)
    ack_partitions_held: list[str] = field(default_factory=list)  # past the horizon, still owing acks
    dead_letters_deleted: int = 0
    upload_parts_deleted: int = 0
    stray_tables_dropped: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # per step

    def to_json(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "dryRun": self.dry_run,
            "horizons": {history: moment.isoformat() for history, moment in self.horizons.items()},
            "eventsPartitionsDropped": self.events_partitions_dropped,
            "tenantsCheckpointed": self.tenants_checkpointed,
            "instancesCheckpointed": self.instances_checkpointed,
            "eventsFolded": self.events_folded,
            "unreadable": [{"eventId": event_id, "error": why} for event_id, why in self.unreadable],
            "ackPartitionsDropped": self.ack_partitions_dropped,
            "ackPartitionsHeld": self.ack_partitions_held,
            "deadLettersDeleted": self.dead_letters_deleted,
            "uploadPartsDeleted": self.upload_parts_deleted,
            "strayTablesDropped": self.stray_tables_dropped,
            "seconds": {step: round(spent, 3) for step, spent in self.seconds.items()},
        }


async def prune(
    connection: asyncpg.Connection, policy: RetentionPolicy, now: datetime, *, dry_run: bool = False
) -> PruneReport:
    """Prune what passed its horizon at `now` (see the module docstring); a dry run only lists it.

    `connection` must not be in a transaction: partitions are detached CONCURRENTLY.
    """
    report = PruneReport(now, dry_run)
    horizons = policy.horizons(now)
    report.horizons = {history: horizon for history, (_, horizon) in horizons.items()}
    steps = (
        ("strays", _drop_strays),
        ("events", _prune_events),
        ("acks", _prune_acks),
        ("dead_letters", _prune_dead_letters),
        ("uploads", _prune_uploads),
    )
    for name, step in steps:
        started = time.perf_counter()
        await step(connection, report)
        report.seconds[name] = time.perf_counter() - started
    if not dry_run:
        await connection.execute(
            "INSERT INTO retention_horizons (history, kept, horizon, pruned_at)"
            " SELECT h, k, z, $4 FROM unnest($1::text[], $2::interval[], $3::timestamptz[]) AS x(h, k, z)"
            " ON CONFLICT (history) DO UPDATE SET kept = EXCLUDED.kept, horizon = EXCLUDED.horizon,"
            " pruned_at = EXCLUDED.pruned_at",
            list(horizons),
            [span for span, _ in horizons.values()],
            [horizon for _, horizon in horizons.values()],
            now,
        )
    return report


async def _drop_strays(connection: asyncpg.Connection, report: PruneReport) -> None:
    for table in (EVENTS, ACK_OUTBOX):
        for name in await stray_tables(connection, table):
            if not report.dry_run:
                await drop_stray_table(connection, name)
            report.stray_tables_dropped.append(name)


async def _past(connection: asyncpg.Connection, table: PartitionedTable, horizon: datetime) -> list[Any]:
    return [p for p in await list_partitions(connection, table) if p.upper <= horizon]


async def _prune_events(connection: asyncpg.Connection, report: PruneReport) -> None:
    for partition in await _past(connection, EVENTS, report.horizons["events"]):
        report.events_partitions_dropped.append(partition.name)
        if report.dry_run:
            continue
        tenants = await fold_partition(connection, TENANT_CHECKPOINTS, partition.name, partition.upper)
        instances = await fold_partition(connection, INSTANCE_CHECKPOINTS, partition.name, partition.upper)
        report.tenants_checkpointed += tenants.subjects
        report.instances_checkpointed += instances.subjects
        for folded in (tenants, instances):
            report.events_folded += folded.events
            report.unreadable += folded.unreadable
        await drop_partition(connection, EVENTS, partition)
        await connection.execute("DELETE FROM early_events WHERE finished_at < $1", partition.upper)


async def _prune_acks(connection: asyncpg.Connection, report: PruneReport) -> None:
    for partition in await _past(connection, ACK_OUTBOX, report.horizons["sent_acks"]):
        if await connection.fetchval(f"SELECT EXISTS (SELECT FROM {partition.name} WHERE sent_at IS NULL)"):
            report.ack_partitions_held.append(partition.name)
            continue
        report.ack_partitions_dropped.append(partition.name)
        if not report.dry_run:
            await drop_partition(connection, ACK_OUTBOX, partition)


async def _prune_dead_letters(connection: asyncpg.Connection, report: PruneReport) -> None:
    due = (
        "SELECT dead_letter_id FROM dead_letters"
        " WHERE state <> 'dead' AND coalesce(dropped_at, retried_at, failed_at) < $1"
    )
    if report.dry_run:
        report.dead_letters_deleted = await connection.fetchval(
            f"SELECT count(*) FROM ({due}) d", report.horizons["dead_letters"]
        )
        return
    while True:
        deleted = await connection.fetchval(
            f"WITH gone AS (DELETE FROM dead_letters WHERE dead_letter_id IN ({due} LIMIT {_DELETE_CHUNK})"
            " RETURNING 1) SELECT count(*) FROM gone",
            report.horizons["dead_letters"],
        )
        report.dead_letters_deleted += deleted
        if deleted < _DELETE_CHUNK:
            return


async def _prune_uploads(connection: asyncpg.Connection, report: PruneReport) -> None:
    abandoned = "SELECT upload_id FROM event_parts GROUP BY upload_id HAVING max(received_at) < $1"
    if report.dry_run:
        report.upload_parts_deleted = await connection.fetchval(
            f"SELECT count(*) FROM event_parts WHERE upload_id IN ({abandoned})", report.horizons["uploads"]
        )
        return
    report.upload_parts_deleted = await connection.fetchval(
        f"WITH gone AS (DELETE FROM event_parts WHERE upload_id IN ({abandoned}) RETURNING 1)"
        " SELECT count(*) FROM gone",
        report.horizons["uploads"],
    )
