"""Bounded fan-out for the simulator's many small HTTP requests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

T = TypeVar("T")


async def bounded_gather(awaitables: Iterable[Awaitable[T]], concurrency: int) -> list[T]:
    """Await all of `awaitables` with at most `concurrency` running at once; results in input order.

    The first exception cancels the rest and propagates (structured, via a TaskGroup).
    """
    semaphore = asyncio.Semaphore(concurrency)

    async def bounded(awaitable: Awaitable[T]) -> T:
        async with semaphore:
            return await awaitable

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(bounded(awaitable)) for awaitable in awaitables]
    return [task.result() for task in tasks]
