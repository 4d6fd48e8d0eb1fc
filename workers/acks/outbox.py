"""The ack outbox (`ack_outbox`): acks written with the events they acknowledge, sent afterwards.

`enqueue_acks` runs inside the applier's batch transaction, so an event's effect and its owed ack
commit together; ackers `claim_due_acks` under a lease (FOR UPDATE SKIP LOCKED, no transaction
open during HTTP) and `record_outcomes`. An event's acks are claimed in the order written. Why an
outbox, the row states and the ordering: docs/design.md, "Acknowledgements survive crashes".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from schemas.ack import Ack
from workers.outcomes import EventStatus, FinishedEvent

# The one ack row that tells an event's ack state, joined to `events e` as `a`: one still owed if
# any (that is what the event is waiting for), else the first sent. No row: the event owes none.
ACK_OF_EVENT_JOIN = (
    " LEFT JOIN LATERAL (SELECT ack_id, sent_at, attempts, last_error FROM ack_outbox"
    "  WHERE ack_outbox.event_id = e.event_id ORDER BY sent_at IS NULL DESC, ack_id LIMIT 1) a ON true"
)
# With ACK_OF_EVENT_JOIN: true when the event's acks were sent and their rows pruned since. Retention
# drops an hour of the outbox only once it owes nothing (workers/retention/prune.py), so an event that
# finished before the sent-acks horizon and has no ack row left was acknowledged.
ACK_ROWS_PRUNED = (
    "(a.ack_id IS NULL AND e.finished_at < (SELECT horizon FROM retention_horizons WHERE history = 'sent_acks'))"
)


class OutboxBacklog(NamedTuple):
    owed: int  # acks not yet taken by the platform
    retrying: int  # of those, the ones whose last attempt failed
    oldest: datetime | None  # when the oldest owed ack was written
    now: datetime  # the database's clock at the same instant, to age `oldest` by


async def outbox_backlog(connection: asyncpg.Connection) -> OutboxBacklog:
    """What the platform is still owed; reads the partial index of unsent rows only."""
    row = await connection.fetchrow(
        "SELECT count(*) AS owed, count(*) FILTER (WHERE last_error IS NOT NULL) AS retrying,"
        " min(created_at) AS oldest, now() AS now FROM ack_outbox WHERE sent_at IS NULL"
    )
    return OutboxBacklog(row["owed"], row["retrying"], row["oldest"], row["now"])


def ack_for(event: FinishedEvent, finished_at: datetime) -> Ack:
    return Ack.finished(
        event_id=event.event_id,
        interface=event.interface,
        tenant_id=event.tenant_id,
        instance_id=event.instance_id,
        status=event.status.value,
        reason=event.reason,
        finished_at=finished_at,
    )


# Outcomes whose ack row may already exist when they are enqueued: a re-sent record redelivered
# (its `duplicate` ack was written the first time) and a record dead-lettered again (a retry that
# failed, a redelivery). A new event's record was never finished before, so it owes its first ack.
_OUTCOMES_SEEN_BEFORE = (EventStatus.DUPLICATE, EventStatus.DEAD_LETTERED)


async def enqueue_acks(
    connection: asyncpg.Connection, events: Sequence[FinishedEvent], finished_at: datetime | None = None
) -> None:
    """Write one ack row per finished event, in the caller's transaction (one statement).

    `finishedAt` and the row's `created_at` are `finished_at` (default: the transaction's `now()`),
    the instant the `events` row records as `finished_at`. A record delivered again with the same
    outcome adds nothing; a new outcome of the same record (a dead letter retried to `applied`) owes
    a new ack. `ack_outbox` is partitioned by `created_at` (migration 0010), so no unique key says
    "once per record and outcome" across batches: rows of the outcomes that can come twice are looked
    for first (one index probe per partition, a LATERAL … LIMIT 1 keeps it a probe), under the
    tenants' (or instances') lock the caller holds.
    """
    if not events:
        return
    # A re-sent call can finish in the same batch as its original, and is listed first: write
    # the event's own ack first, so the claim order (by ack_id) sends it first.
    ordered = sorted(events, key=lambda event: event.status is EventStatus.DUPLICATE)
    now: datetime = finished_at or await connection.fetchval("SELECT now()")
    await connection.execute(
        "INSERT INTO ack_outbox (event_id, kafka_partition, kafka_offset, outcome, body, trace_parent, created_at)"
        " SELECT e, p, o, s, b::jsonb, t, $8"
        " FROM unnest($1::text[], $2::integer[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::boolean[])"
        " WITH ORDINALITY AS x(e, p, o, s, b, t, seen, n)"
        " LEFT JOIN LATERAL (SELECT true AS found FROM ack_outbox a WHERE x.seen AND a.event_id = x.e"
        "  AND a.kafka_partition = x.p AND a.kafka_offset = x.o AND a.outcome = x.s LIMIT 1) f ON true"
        " WHERE f.found IS NULL"
        " ORDER BY n"
        " ON CONFLICT DO NOTHING",
        [event.event_id for event in ordered],
        [event.partition for event in ordered],
        [event.offset for event in ordered],
        [event.status.value for event in ordered],
        [ack_for(event, now).model_dump_json() for event in ordered],
        [event.trace_parent for event in ordered],
        [event.status in _OUTCOMES_SEEN_BEFORE for event in ordered],
        now,
    )


class ClaimedAck(NamedTuple):
    """A row an acker now holds until its lease ends; `attempt` counts this attempt (1 = first)."""

    ack_id: int
    body: dict[str, Any]
    attempt: int
    trace_parent: str | None = None  # the acknowledged call's trace context, when it was traced


class AckOutcome(NamedTuple):
    """How one POST went: `error` None = delivered; else retry after `retry_in_s`."""

    ack_id: int
    error: str | None = None
    retry_in_s: float = 0.0


async def claim_due_acks(connection: asyncpg.Connection, limit: int, lease_s: float) -> list[ClaimedAck]:
    """Claim up to `limit` due acks for `lease_s` seconds (one autocommit statement).

    Only the oldest owed ack of each event qualifies. The NOT EXISTS probes the partial index
    `ack_outbox_owed_by_event` once per candidate row (about 1 ms per claim of 64 with 40k acks
    owed, stale statistics or fresh); without that index the planner scanned every owed row for
    every claim (110 ms).
    """
    rows = await connection.fetch(
        "UPDATE ack_outbox SET next_attempt_at = now() + make_interval(secs => $2::float8), attempts = attempts + 1"
        " WHERE ack_id IN ("
        "  SELECT o.ack_id FROM ack_outbox o"
        "  WHERE o.sent_at IS NULL AND o.next_attempt_at <= now()"
        "   AND NOT EXISTS (SELECT FROM ack_outbox earlier WHERE earlier.event_id = o.event_id"
        "    AND earlier.ack_id < o.ack_id AND earlier.sent_at IS NULL)"
        "  ORDER BY o.next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " RETURNING ack_id, body::text AS body, attempts, trace_parent",
        limit,
        lease_s,
    )
    return [ClaimedAck(row["ack_id"], json.loads(row["body"]), row["attempts"], row["trace_parent"]) for row in rows]


async def record_outcomes(connection: asyncpg.Connection, outcomes: Sequence[AckOutcome]) -> None:
    """Mark delivered acks sent and schedule the others (one statement).

    A row already marked sent (by another acker, after this one's lease ran out) stays sent.
    `last_error` keeps the latest failure even once the ack is sent: it tells what delayed it.
    """
    if not outcomes:
        return
    await connection.execute(
        "UPDATE ack_outbox o SET"
        " sent_at = CASE WHEN x.error IS NULL THEN now() END,"
        " next_attempt_at = CASE WHEN x.error IS NULL THEN o.next_attempt_at"
        "  ELSE now() + make_interval(secs => x.delay) END,"
        " last_error = coalesce(x.error, o.last_error)"
        " FROM unnest($1::bigint[], $2::text[], $3::float8[]) AS x(id, error, delay)"
        " WHERE o.ack_id = x.id AND o.sent_at IS NULL",
        [outcome.ack_id for outcome in outcomes],
        [outcome.error for outcome in outcomes],
        [outcome.retry_in_s for outcome in outcomes],
    )
