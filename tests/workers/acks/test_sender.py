"""The acker in this process against a local platform: no URL, bounded in-flight, graceful stop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
from pydantic import SecretStr

from runtime.retry import RetryPolicy
from runtime.settings import Settings
from tests.workers.acks.finished_events import commit_finished, finished
from tests.workers.acks.flaky_platform import FlakyPlatform
from tests.workers.acks.running import running_acker, unsent_acks, wait_until_all_sent
from workers.acks.platform_client import PlatformAckClient
from workers.acks.sender import AckSender

pytestmark = pytest.mark.integration


@pytest.fixture
async def platform(access_key: str, database_url: str, db: asyncpg.Connection) -> AsyncIterator[FlakyPlatform]:
    async with FlakyPlatform(access_key, database_url) as platform:
        yield platform


@pytest.fixture
def acker_settings(access_key: str, database_url: str) -> Settings:
    return Settings(
        database_url=SecretStr(database_url),
        access_keys=(access_key, "a-second-key-being-rotated-in"),  # type: ignore[arg-type]
        ack_timeout_s=0.5,
        ack_retry_first_s=0.05,
        ack_retry_cap_s=0.2,
        ack_poll_interval_s=0.2,
    )


async def test_without_an_ack_url_acks_stay_pending_until_an_acker_has_one(
    db: asyncpg.Connection, platform: FlakyPlatform, acker_settings: Settings, database_url: str
) -> None:
    events = [finished() for _ in range(10)]
    await commit_finished(db, events)

    async with running_acker(acker_settings):
        await asyncio.sleep(3 * acker_settings.ack_poll_interval_s)
        assert await unsent_acks(database_url) == 10
        assert await db.fetchval("SELECT max(attempts) FROM ack_outbox") == 0
    async with running_acker(acker_settings.model_copy(update={"ack_url": platform.url})):
        await wait_until_all_sent(database_url)

    assert set(platform.acks) == {event.event_id for event in events}
    assert platform.bad_signatures == 0  # signed with the first key


async def test_a_hanging_platform_never_has_more_than_max_in_flight_requests(
    db: asyncpg.Connection, platform: FlakyPlatform, acker_settings: Settings, database_url: str
) -> None:
    await commit_finished(db, [finished() for _ in range(60)])
    platform.mode = "hang"
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    stop = asyncio.Event()
    try:
        async with aiohttp.ClientSession() as session:
            client = PlatformAckClient(session, platform.url, acker_settings.access_key_values()[0], 0.4)
            sender = AckSender(pool, client, max_in_flight=5, lease_s=0.8, retry=RetryPolicy(0.05, 0.1), poll_s=0.2)
            run = asyncio.create_task(sender.run(stop))
            held = []
            deadline = time.monotonic() + 1.5  # three rounds of timeouts and retries
            while time.monotonic() < deadline:
                held.append(sender.held)
                await asyncio.sleep(0.01)
            stop.set()
            await asyncio.wait_for(run, timeout=5)
    finally:
        await pool.close()

    assert max(held) == 5
    assert platform.max_in_flight == 5
    assert platform.requests["hang"] >= 10  # requests timed out and were retried, five at a time
    assert await unsent_acks(database_url) == 60


async def test_stopping_lets_requests_in_flight_end_and_records_them(
    db: asyncpg.Connection, platform: FlakyPlatform, acker_settings: Settings, database_url: str
) -> None:
    await commit_finished(db, [finished() for _ in range(3)])
    platform.mode = "hang"
    async with running_acker(acker_settings.model_copy(update={"ack_url": platform.url})):
        await platform.wait_until(lambda: platform.in_flight == 3)
        stopping = time.monotonic()
    stopped_after = time.monotonic() - stopping

    errors = await db.fetch("SELECT attempts, last_error FROM ack_outbox")
    assert stopped_after < 2 * acker_settings.ack_timeout_s
    assert [(row["attempts"], row["last_error"]) for row in errors] == [(1, "no answer within 0.5 s")] * 3
