"""The acker's loop: claim due acks, POST them concurrently, record how each went.

Memory and load are bounded by `max_in_flight`: an ack counts against it from its claim until its
outcome is written back, and a claim never takes more than the free room. So a platform that is
slow or down makes the acker wait (its rows stay in Postgres), never buffer, and at most
`max_in_flight` requests are open at once. Outcomes are written in batches: whatever finished
while the previous write ran (given `_GATHER_OUTCOMES_S` to gather when fewer than a claim's worth)
goes in the next single statement.

Waking: the sender looks for due acks when woken (`wake()`: the outbox listener calls it on each
notification of new acks), when room frees up, and otherwise every `poll_s`. The wake flag is
cleared before each look, not after, so a notification that arrives while a claim runs triggers
another look at once instead of waiting for the poll.

Stopping (`stop` set): no more claims; requests in flight finish (each bounded by its timeout) and
their outcomes are written. Cancelling drops what is in flight: those rows are due again when their
lease ends, and are sent again (at least once, never lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Protocol

import asyncpg
from opentelemetry.trace import SpanKind

from runtime import tracing
from runtime.logs import event_fields
from runtime.outages import is_retriable
from runtime.retry import RetryPolicy
from workers.acks.errors import AckNotDelivered
from workers.acks.outbox import AckOutcome, ClaimedAck, claim_due_acks, record_outcomes

log = logging.getLogger(__name__)

# Postgres unreachable: retry claims and outcome writes quickly at first, then every few seconds.
_DATABASE_RETRY = RetryPolicy(first_s=0.1, cap_s=5.0)
# A failing platform is reported at most this often (with counts), not once per ack.
_FAILURE_LOG_INTERVAL_S = 10.0
# Fewer outcomes than a claim's worth are given this long to gather before they are written: one
# statement per few acks cost as much as their POSTs (profiled); this only delays freeing room.
_GATHER_OUTCOMES_S = 0.01


class AckDelivery(Protocol):
    async def deliver(self, body: dict[str, Any]) -> None:
        """Return once the platform took the ack; raise AckNotDelivered otherwise."""


class AckSender:
    """Sends the outbox's due acks through `client`, at most `max_in_flight` held at once.

    `lease_s` is how long a claimed row is ours: it must outlast one request and the writing of
    its outcome, or another acker may send the same ack again (harmless, but wasted). `poll_s`:
    with nothing woken, look for due acks this often.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: AckDelivery,
        *,
        max_in_flight: int,
        lease_s: float,
        retry: RetryPolicy,
        poll_s: float,
    ) -> None:
        self._pool = pool
        self._client = client
        self._max_in_flight = max_in_flight
        # Claim in chunks of at least a quarter of the window: one query serves many acks, and
        # the window stays mostly full while the platform keeps up.
        self._claim_at_least = max(1, max_in_flight // 4)
        self._lease_s = lease_s
        self._retry = retry
        self._poll_s = poll_s
        self._held = 0
        self._posts: set[asyncio.Task[None]] = set()
        self._outcomes: list[AckOutcome] = []
        self._outcomes_waiting = asyncio.Event()
        self._wake = asyncio.Event()
        self._failures_unlogged = 0
        self._last_error = ""
        self._failures_logged_at = 0.0

    def wake(self) -> None:
        """Look for due acks now (new ones were committed), not at the next poll."""
        self._wake.set()

    @property
    def held(self) -> int:
        """Acks claimed and not yet recorded: never more than `max_in_flight`."""
        return self._held

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set, then finish what is in flight (see the module docstring).

        A failure that is not the platform's or a database outage (a bug) ends the run, raised in
        an ExceptionGroup.
        """
        async with asyncio.TaskGroup() as group:
            recorder = group.create_task(self._record_outcomes())
            relay = group.create_task(self._wake_on(stop))
            await self._claim_and_post(stop, group)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._lease_s):
                    await self._drain()
            for task in [*self._posts, recorder, relay]:
                task.cancel()

    async def _claim_and_post(self, stop: asyncio.Event, group: asyncio.TaskGroup) -> None:
        database_failures = 0
        while not stop.is_set():
            # Cleared before looking: whatever wakes us from here on ends the next wait.
            self._wake.clear()
            room = self._max_in_flight - self._held
            if self._held and room < self._claim_at_least:
                await self._wait_for_wake(None)
                continue
            try:
                async with self._pool.acquire() as connection:
                    claimed = await claim_due_acks(connection, room, self._lease_s)
            except Exception as exc:
                if not is_retriable(exc):
                    raise
                database_failures += 1
                log.warning("could not claim acks (%r); retrying", exc)
                await self._wait_for_wake(_DATABASE_RETRY.delay_s(database_failures))
                continue
            database_failures = 0
            self._held += len(claimed)
            for ack in claimed:
                task = group.create_task(self._post(ack))
                self._posts.add(task)
                task.add_done_callback(self._posts.discard)
            if len(claimed) < room:
                await self._wait_for_wake(self._poll_s)

    async def _wait_for_wake(self, timeout_s: float | None) -> None:
        """Wait until woken (new acks, outcomes freed room, `stop` set) or `timeout_s` passes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._wake.wait()

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()

    async def _post(self, ack: ClaimedAck) -> None:
        if ack.trace_parent is None:
            outcome = await self._deliver(ack)
        else:
            attributes = {"syncpipe.event_id": ack.body.get("eventId", ""), "syncpipe.ack.attempt": ack.attempt}
            with tracing.child_span("acker post ack", ack.trace_parent, attributes, kind=SpanKind.CLIENT):
                outcome = await self._deliver(ack)
        self._outcomes.append(outcome)
        self._outcomes_waiting.set()

    async def _deliver(self, ack: ClaimedAck) -> AckOutcome:
        try:
            await self._client.deliver(ack.body)
        except AckNotDelivered as exc:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("ack %d failed (attempt %d): %s", ack.ack_id, ack.attempt, exc, extra=_fields(ack.body))
            return AckOutcome(ack.ack_id, str(exc), self._retry.delay_s(ack.attempt))
        if log.isEnabledFor(logging.DEBUG):  # per ack on the hot path: skip building the fields
            log.debug("ack %d sent (attempt %d)", ack.ack_id, ack.attempt, extra=_fields(ack.body))
        return AckOutcome(ack.ack_id)

    async def _record_outcomes(self) -> None:
        """Forever: write whatever outcomes are waiting in one statement, then free their room."""
        while True:
            await self._outcomes_waiting.wait()
            if len(self._outcomes) < self._claim_at_least:
                await asyncio.sleep(_GATHER_OUTCOMES_S)
            self._outcomes_waiting.clear()
            batch, self._outcomes = self._outcomes, []
            if not batch:
                continue
            await self._write(batch)
            self._held -= len(batch)
            self._note_failures(batch)
            self._wake.set()

    async def _write(self, batch: list[AckOutcome]) -> None:
        """Record `batch`, retrying while Postgres is unreachable (the batch stays held meanwhile)."""
        failures = 0
        while True:
            try:
                async with self._pool.acquire() as connection:
                    await record_outcomes(connection, batch)
            except Exception as exc:
                if not is_retriable(exc):
                    raise
                failures += 1
                log.warning("could not record ack outcomes (%r); retrying", exc)
                await asyncio.sleep(_DATABASE_RETRY.delay_s(failures))
            else:
                return

    async def _drain(self) -> None:
        while self._held:
            self._wake.clear()
            await self._wait_for_wake(self._poll_s)

    def _note_failures(self, batch: list[AckOutcome]) -> None:
        failed = [outcome for outcome in batch if outcome.error is not None]
        if not failed:
            return
        self._failures_unlogged += len(failed)
        self._last_error = failed[-1].error or ""
        now = time.monotonic()
        if now - self._failures_logged_at >= _FAILURE_LOG_INTERVAL_S:
            log.warning(
                "%d ack attempts failed since the last report (latest: %s); they will be retried",
                self._failures_unlogged,
                self._last_error,
            )
            self._failures_unlogged = 0
            self._failures_logged_at = now


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    return event_fields(body.get("eventId"), body.get("tenantId"), body.get("interface"), body.get("instanceId"))
