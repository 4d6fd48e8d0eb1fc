"""Reads of the instances table for the read API: one statement each, inside the request's snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True, slots=True)
class InstanceSummary:
    """One line of the instance list (the derived columns: the changes themselves are not read)."""

    instance_id: str
    status: str
    order_id: str
    order_line_id: str
    expire_time: str
    product_id: str
    released_at: datetime | None
    version: datetime | None
    ready_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "instanceId": self.instance_id,
            "status": self.status,
            "orderId": self.order_id,
            "orderLineId": self.order_line_id,
            "expireTime": self.expire_time,
            "productId": self.product_id,
            "releasedAt": _iso(self.released_at),
            "lastChangeAt": _iso(self.version),
            "readyAt": _iso(self.ready_at),
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
        }


_SUMMARY = (
    "instance_id, status, order_id, order_line_id, expire_time, product_id, released_at, version, ready_at,"
    " created_at, updated_at"
)


async def list_instances(
    connection: asyncpg.Connection, *, status: str | None, limit: int
) -> tuple[list[InstanceSummary], bool]:
    """The newest `limit` instances (of `status` if given), newest first, and whether there are more."""
    rows = await connection.fetch(
        f"SELECT {_SUMMARY} FROM instances WHERE ($1::text IS NULL OR status = $1)"
        " ORDER BY created_at DESC, instance_id LIMIT $2",
        status,
        limit + 1,
    )
    return [InstanceSummary(**dict(row)) for row in rows[:limit]], len(rows) > limit


async def instance_times(connection: asyncpg.Connection, instance_id: str) -> dict[str, Any] | None:
    """When the instance's row was first and last written; None if it has none."""
    row = await connection.fetchrow("SELECT created_at, updated_at FROM instances WHERE instance_id = $1", instance_id)
    return None if row is None else {"createdAt": _iso(row["created_at"]), "updatedAt": _iso(row["updated_at"])}
