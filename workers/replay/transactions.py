"""How the recovery commands change state: the whole work in one transaction, kept or rolled back.

A dry run does exactly the work of the real one, in the same transaction, and rolls it back: what it
reports is what the real run would have done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import asyncpg

Result = TypeVar("Result")


class _RollBack(Exception):
    def __init__(self, result: Any) -> None:
        self.result = result


async def in_one_transaction(
    connection: asyncpg.Connection, work: Callable[[], Awaitable[Result]], *, keep: Callable[[Result], bool]
) -> Result:
    """`work()` in one transaction, committed if `keep(result)`, else rolled back; its result either way.

    An exception from `work` rolls back and propagates."""
    try:
        async with connection.transaction():
            result = await work()
            if not keep(result):
                raise _RollBack(result)
            return result
    except _RollBack as rolled_back:
        return cast(Result, rolled_back.result)
