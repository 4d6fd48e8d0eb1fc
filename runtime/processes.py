"""Running long-lived components until Ctrl-C / SIGTERM, the same way for every command."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

# A component asked to stop gets this long to finish its work in hand before it is cancelled.
GRACEFUL_STOP_S = 15.0

Component = Callable[[asyncio.Event | None, asyncio.Event], Awaitable[None]]

# prctl(2) option: the signal the kernel sends a process when its parent dies.
_PR_SET_PDEATHSIG = 1

# Allocations between two young-generation passes of the cyclic garbage collector (CPython's
# default is 700). A 100k-department full sync allocates ~1M objects that live until its batch ends;
# at 700 the collector walks that growing heap over and over, a third of the CPU the sync takes. Our
# data holds no reference cycles; what does (exceptions, finished tasks) is still collected, later.
_GC_ALLOCATIONS_PER_PASS = 10_000


def tune_garbage_collector() -> None:
    """Once per service process, before it starts work: collect cyclic garbage less often."""
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(_GC_ALLOCATIONS_PER_PASS, older, oldest)


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


def die_with_parent(parent_pid: int | None = None) -> None:
    """Linux: the kernel SIGKILLs this process when its parent dies (killed too, so nothing is orphaned).

    With `parent_pid`, exit at once if the parent is already gone (it may die before this is set).
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(0)
