"""Wakes the acker when acks are written: a connection of its own LISTENing on the outbox's channel.

`enqueue_acks` NOTIFYs `NEW_ACKS_CHANNEL` inside the applying transaction, so the notification is
delivered at commit, never for rows that did not commit. A notification is only a hint to look now:
the rows are claimed from the table as always, and the sender's poll still finds whatever a
notification did not announce. So when the listening connection is lost (Postgres restarted, the
backend terminated, a network cut noticed by the health check), nothing is lost: the acker polls
meanwhile, this connects again with backoff, LISTENs again and wakes the sender once, for what was
committed while nobody listened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from runtime.outages import is_retriable
from runtime.retry import RetryPolicy
from workers.acks.outbox import NEW_ACKS_CHANNEL

log = logging.getLogger(__name__)

# Reconnecting after the listening connection was lost: quickly at first, then every few seconds.
_RECONNECT = RetryPolicy(first_s=0.1, cap_s=5.0)
# An idle connection whose peer vanished without a word (a network cut) is not noticed by the
# socket; a probe this often finds it. Meanwhile the poll keeps acks moving, so this can be slow.
HEALTH_CHECK_S = 30.0
# A probe not answered this fast counts as a lost connection.
_HEALTH_CHECK_TIMEOUT_S = 10.0

Connect = Callable[[], Awaitable[asyncpg.Connection]]


async def listen_for_new_acks(
    connect: Connect, wake: Callable[[], None], *, health_check_s: float = HEALTH_CHECK_S
) -> None:
    """Call `wake()` on every notification of new acks, until cancelled.

    `wake()` is also called each time listening (re)starts, for rows committed while it was not.
    A lost connection is replaced (see the module docstring); an error that is not an outage
    (`runtime.outages.is_retriable`) is raised.
    """
    failures = 0
    while True:
        try:
            connection = await connect()
        except Exception as exc:
            if not is_retriable(exc):
                raise
            failures += 1
            log.warning("could not connect to listen for new acks (%r); polling meanwhile, retrying", exc)
            await asyncio.sleep(_RECONNECT.delay_s(failures))
            continue
        try:
            await _listen(connection, wake, health_check_s)
        except Exception as exc:
            if not is_retriable(exc):
                raise
            log.warning("lost the connection listening for new acks (%r); polling meanwhile, listening again", exc)
            failures = 1
            await asyncio.sleep(_RECONNECT.delay_s(failures))
        finally:
            connection.terminate()


async def _listen(connection: asyncpg.Connection, wake: Callable[[], None], health_check_s: float) -> None:
    """LISTEN on `connection` until it is lost; raise what said it was lost."""
    lost = asyncio.Event()
    connection.add_termination_listener(lambda _connection: lost.set())
    await connection.add_listener(NEW_ACKS_CHANNEL, lambda *_notification: wake())
    log.info("listening for new acks on channel %s", NEW_ACKS_CHANNEL)
    wake()
    while True:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(health_check_s):
                await lost.wait()
        if lost.is_set() or connection.is_closed():
            raise asyncpg.ConnectionDoesNotExistError("the listening connection was closed")
        await connection.execute("SELECT 1", timeout=_HEALTH_CHECK_TIMEOUT_S)
