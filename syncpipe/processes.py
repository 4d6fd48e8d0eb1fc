"""Running long-lived components until Ctrl-C / SIGTERM, the same way for every command."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

# A component asked to stop gets this long to finish its work in hand before it is cancelled.
GRACEFUL_STOP_S = 15.0

Component = Callable[[asyncio.Event | None, asyncio.Event], Awaitable[None]]


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def run_until_stopped(name: str, serve: Callable[..., Coroutine[Any, Any, None]], *args: object) -> None:
    """Run `serve(*args, ready)` until SIGINT/SIGTERM, then cancel it (it closes cleanly)."""
    stop = asyncio.Event()
    install_stop_signals(stop)
    task = asyncio.create_task(serve(*args))
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        stopper.cancel()
        task.result()
        return
    log.info("%s stopping", name)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, GRACEFUL_STOP_S)
