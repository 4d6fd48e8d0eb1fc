"""The acker woken by the outbox's notifications: at once, not at the next poll, and again after the
listening connection was lost. The poll interval is set long, so an ack that arrives quickly can only
have been sent because of a notification."""

from __future__ import annotations

import asyncio
import contextlib
import time

import asyncpg
import pytest
from pydantic import SecretStr

from runtime.settings import Settings
from tests.workers.acks.finished_events import commit_finished, finished
from tests.workers.acks.flaky_platform import FlakyPlatform
from tests.workers.acks.running import running_acker, unsent_acks
from workers.acks.outbox import NEW_ACKS_CHANNEL
from workers.acks.outbox_listener import listen_for_new_acks

pytestmark = pytest.mark.integration

POLL_S = 30.0
# An ack woken by its notification arrives within a small share of the poll interval, however
# loaded the machine: milliseconds, where the poll would take up to POLL_S.
WOKEN_WITHIN_S = POLL_S / 10
_LISTENING = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    f" AND query = 'LISTEN \"{NEW_ACKS_CHANNEL}\"'"
)


@pytest.fixture
def acker_settings(access_key: str, database_url: str, platform: FlakyPlatform) -> Settings:
    return Settings(
        database_url=SecretStr(database_url),
        access_keys=(access_key,),  # type: ignore[arg-type]
        ack_url=platform.url,
        ack_poll_interval_s=POLL_S,
    )


async def seconds_until_acked(db: asyncpg.Connection, platform: FlakyPlatform) -> float:
    """Commit one finished event; return how long until the platform took its ack."""
    event = finished()
    committed = time.monotonic()
    await commit_finished(db, [event])
    await platform.wait_until(lambda: event.event_id in platform.acks, timeout_s=POLL_S * 2)
    return time.monotonic() - committed


async def listening_backend(db: asyncpg.Connection, other_than: int | None = None) -> int:
    """The pid of the acker's listening connection (waits for one other than `other_than`)."""
    deadline = time.monotonic() + 20
    while True:
        pids = {row["pid"] for row in await db.fetch(_LISTENING)} - {other_than}
        if pids:
            [pid] = pids
            return pid
        assert time.monotonic() < deadline, "no connection is listening for new acks"
        await asyncio.sleep(0.05)


async def test_the_acker_sends_a_new_ack_when_notified_not_at_the_next_poll(
    db: asyncpg.Connection, platform: FlakyPlatform, acker_settings: Settings
) -> None:
    async with running_acker(acker_settings):
        await listening_backend(db)
        waits = [await seconds_until_acked(db, platform) for _ in range(3)]

    assert max(waits) < WOKEN_WITHIN_S, waits


async def test_with_listening_off_a_new_ack_waits_for_the_poll(
    db: asyncpg.Connection, platform: FlakyPlatform, acker_settings: Settings, database_url: str
) -> None:
    async with running_acker(acker_settings.model_copy(update={"ack_listen": False})):
        await asyncio.sleep(0.5)  # the acker's first look, at start, found nothing
        await commit_finished(db, [finished()])
        await asyncio.sleep(WOKEN_WITHIN_S)
        assert await unsent_acks(database_url) == 1
        assert await db.fetchval(_LISTENING.replace("SELECT pid", "SELECT count(*)")) == 0


async def test_the_acker_listens_again_after_its_listening_connection_is_dropped(
    db: asyncpg.Connection, platform: FlakyPlatform, acker_settings: Settings
) -> None:
    async with running_acker(acker_settings):
        first = await listening_backend(db)
        assert await db.fetchval("SELECT pg_terminate_backend($1)", first)
        second = await listening_backend(db, other_than=first)
        waits = [await seconds_until_acked(db, platform) for _ in range(3)]

    assert second != first
    assert max(waits) < WOKEN_WITHIN_S, waits


class Counter:
    """Counts calls; `reaches(n)` waits until there were n."""

    def __init__(self) -> None:
        self.count = 0
        self._counted = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self._counted.set()

    async def reaches(self, count: int, timeout_s: float = 20.0) -> None:
        async with asyncio.timeout(timeout_s):
            while self.count < count:
                self._counted.clear()
                await self._counted.wait()


async def test_listening_wakes_once_when_it_resumes_for_what_was_committed_meanwhile(
    db: asyncpg.Connection, migrated_url: str
) -> None:
    refusing = False
    refused = Counter()

    async def connect() -> asyncpg.Connection:
        if refusing:
            refused()
            raise ConnectionRefusedError("the database refuses connections for now")
        connection: asyncpg.Connection = await asyncpg.connect(migrated_url)
        return connection

    wakes = Counter()
    listener = asyncio.create_task(listen_for_new_acks(connect, wakes))
    try:
        first = await listening_backend(db)
        await wakes.reaches(1)  # listening started: look once for what was committed before (just after LISTEN)
        assert wakes.count == 1
        refusing = True
        await db.fetchval("SELECT pg_terminate_backend($1)", first)
        await refused.reaches(2)  # it keeps trying to listen again, and failing
        await commit_finished(db, [finished()])  # nobody is listening: no notification for this
        assert wakes.count == 1
        refusing = False
        await listening_backend(db, other_than=first)
        await wakes.reaches(2)  # listening again: one look, which finds the ack committed meanwhile
        await commit_finished(db, [finished()])
        await wakes.reaches(3)  # and notifications arrive again
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
