"""`syncpipe acker`: wires one ack sender process (several may run side by side)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import asyncpg

from runtime.postgres.migrate import migrate
from runtime.postgres.pool import create_pool
from runtime.retry import RetryPolicy
from runtime.settings import Settings
from workers.acks.errors import AckerNotConfigured
from workers.acks.metrics import AckerMetrics
from workers.acks.outbox_listener import Connect, listen_for_new_acks
from workers.acks.platform_client import PlatformAckClient
from workers.acks.sender import AckSender

log = logging.getLogger(__name__)

# One connection claims while the other writes outcomes; both statements are short. The outbox
# listener holds a third connection of its own (LISTEN needs one that is never shared).
_POOL_SIZE = 2
# Connecting the listener: a server that does not answer this fast is retried (the poll goes on).
_CONNECT_TIMEOUT_S = 10.0


def _connect(database_url: str) -> Connect:
    async def connect() -> asyncpg.Connection:
        connection: asyncpg.Connection = await asyncpg.connect(database_url, timeout=_CONNECT_TIMEOUT_S)
        return connection

    return connect


def lease_s(settings: Settings) -> float:
    """How long a claimed ack is this acker's: its request, and as long again to record the outcome."""
    return 2 * settings.ack_timeout_s


def check_configured(settings: Settings) -> None:
    """AckerNotConfigured, naming the variable, without a database or with an ack URL but no key to sign with."""
    if settings.database_url is None:
        raise AckerNotConfigured("the acker needs a database: set DATABASE_URL")
    if settings.ack_url is not None and not settings.access_keys:
        raise AckerNotConfigured("acks must be signed: set SYNCPIPE_ACCESS_KEYS (the first key signs)")


async def serve_acker(
    settings: Settings,
    ready: asyncio.Event | None = None,
    stop: asyncio.Event | None = None,
    *,
    metrics: AckerMetrics | None = None,
) -> None:
    """Send the outbox's acks to `settings.ack_url` until `stop` is set (requests in flight finish and
    are recorded) or the task is cancelled (they are sent again once their lease ends).

    Migrates the database first, then sets `ready`. Woken by the outbox's notifications
    (`settings.ack_listen`, see workers/acks/outbox_listener.py) and polling every
    `settings.ack_poll_interval_s` in any case. Without `ack_url` it sends nothing: acks stay
    pending in the outbox, to be sent by an acker started with the URL. Raises AckerNotConfigured
    without a database, or with an ack URL but no access key to sign with (the first of
    `access_keys` signs). `metrics`, when given, counts the deliveries and reads the outbox's
    backlog at each scrape while the acker runs.
    """
    check_configured(settings)
    assert settings.database_url is not None  # check_configured
    access_keys = settings.access_key_values()
    stop = stop or asyncio.Event()
    database_url = settings.database_url.get_secret_value()
    # Its statements are single autocommit ones (the LISTEN has its own connection): nothing to
    # reset at release, and the reset's round trip cost as much as recording the outcomes.
    pool = await create_pool(database_url, max_size=_POOL_SIZE, reset_on_release=False)
    try:
        async with pool.acquire() as connection:
            await migrate(connection)
        if metrics is not None:
            metrics.watch_outbox(pool)
        if settings.ack_url is None:
            log.warning("SYNCPIPE_ACK_URL is not set: acks stay pending until an acker runs with it")
            if ready is not None:
                ready.set()
            await stop.wait()
            return
        # One keep-alive connection per request in flight; no cookies kept, no headers the
        # platform does not need (PlatformAckClient bounds each request by the ack timeout).
        connector = aiohttp.TCPConnector(limit=settings.ack_max_in_flight)
        async with aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent",),
        ) as session:
            client = PlatformAckClient(session, settings.ack_url, access_keys[0], settings.ack_timeout_s)
            sender = AckSender(
                pool,
                metrics.measured(client) if metrics is not None else client,
                max_in_flight=settings.ack_max_in_flight,
                lease_s=lease_s(settings),
                retry=RetryPolicy(settings.ack_retry_first_s, settings.ack_retry_cap_s),
                poll_s=settings.ack_poll_interval_s,
            )
            if ready is not None:
                ready.set()
            log.info("acker sending to the platform's ack URL, %d at a time", settings.ack_max_in_flight)
            async with asyncio.TaskGroup() as group:
                listener = None
                if settings.ack_listen:
                    listener = group.create_task(listen_for_new_acks(_connect(database_url), sender.wake))
                else:
                    log.info(
                        "SYNCPIPE_ACK_LISTEN is off: looking for new acks every %g s", settings.ack_poll_interval_s
                    )
                await sender.run(stop)
                if listener is not None:
                    listener.cancel()
    finally:
        if metrics is not None:
            metrics.watch_outbox(None)
        await pool.close()
