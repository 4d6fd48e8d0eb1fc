"""Running a component the way its process does, in the test's event loop, until the block ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestServer

from runtime.http_server import HardenedAppRunner

Serve = Callable[[asyncio.Event, asyncio.Event], Awaitable[None]]


@contextlib.asynccontextmanager
async def running(serve: Serve, *, graceful: bool, start_timeout_s: float = 60.0) -> AsyncIterator[None]:
    """`serve(ready, stop)` until the block ends, entered once `ready` is set.

    On exit a `graceful` component (the worker, the acker) is asked to stop through `stop` and must
    have stopped within 30 s (what it raised is raised here); the others (the gateway, the API, which
    run until cancelled) are cancelled.
    """
    ready, stop = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(serve(ready, stop))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], timeout=start_timeout_s, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # raises what stopped it
    try:
        assert ready.is_set(), "the component did not start in time"
        yield
    finally:
        if graceful:
            stop.set()
            await asyncio.wait_for(task, timeout=30)
        else:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class ServedLikeAProcess(TestServer):
    """aiohttp's TestServer on the runner the processes use (runtime.http_server: refusals, headers), and
    like them without cancelling a handler whose client left (aiohttp's test default): the handler reads
    on and sees the connection gone."""

    async def _make_runner(self, **kwargs: Any) -> HardenedAppRunner:
        return HardenedAppRunner(self.app, **{**kwargs, "handler_cancellation": False})
