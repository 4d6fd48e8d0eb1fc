"""What is retained, as the latest prune left it: read by the console, the metrics and `syncpipe replay`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

import asyncpg


class Horizon(NamedTuple):
    history: str  # events, sent_acks, dead_letters, uploads
    kept: timedelta  # the retention setting the prune applied
    horizon: datetime  # what is older than this is gone (events: whole days at or before it)
    pruned_at: datetime


async def read_horizons(connection: asyncpg.Connection) -> dict[str, Horizon]:
    """The horizons of the latest prune; empty until one ran."""
    rows = await connection.fetch("SELECT history, kept, horizon, pruned_at FROM retention_horizons")
    return {row["history"]: Horizon(row["history"], row["kept"], row["horizon"], row["pruned_at"]) for row in rows}


async def oldest_retained_event(connection: asyncpg.Connection) -> datetime | None:
    """When the oldest event still in `events` finished (one index probe per partition)."""
    oldest: datetime | None = await connection.fetchval("SELECT min(finished_at) FROM events")
    return oldest
