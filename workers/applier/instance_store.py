"""Loads the instances a batch of instance calls needs and writes back what the rules changed.

Set-based: one statement to lock, one to load, one to save, whatever the number of instances. Rows are
read and written under the instance's advisory lock, in the transaction that records the events, so
two workers (or a worker and the read API's appInfo) never interleave on an instance; a zombie worker
that lost its partitions can only add calls to a set that already holds them.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable

import asyncpg

from schemas.instance_calls import AppInfo
from workers.domain.instance_state import InstanceState, LoggedChange

# The advisory lock class of instances: a key space of its own (two-key locks never meet the one-key
# locks of tenants), so an instance id can never collide with a tenant id.
_LOCK_CLASS = 0x696E7374  # "inst"


async def lock_instances(connection: asyncpg.Connection, instance_ids: Collection[str]) -> None:
    """Serialise writers of each instance until this transaction ends. Locks are taken in the order of
    their keys (the ids' hashes), so two transactions never wait for each other in a circle."""
    if instance_ids:
        await connection.execute(
            "SELECT pg_advisory_xact_lock($1::int, h)"
            " FROM (SELECT DISTINCT hashtext(i) AS h FROM unnest($2::text[]) AS i ORDER BY h) AS ordered",
            _LOCK_CLASS,
            list(instance_ids),
        )


async def load_instances(connection: asyncpg.Connection, instance_ids: Collection[str]) -> dict[str, InstanceState]:
    """Every asked instance: as stored, or empty (and unchanged) if it has no row yet."""
    states = {instance_id: InstanceState(instance_id) for instance_id in instance_ids}
    rows = await connection.fetch(
        "SELECT instance_id, changes::text AS changes, app_info::text AS app_info, ready_at"
        " FROM instances WHERE instance_id = ANY($1::text[])",
        list(instance_ids),
    )
    for row in rows:
        state = states[row["instance_id"]]
        logged = (LoggedChange.from_json(entry) for entry in json.loads(row["changes"]))
        state.changes = {change.event_id: change for change in logged}
        state.app_info = AppInfo.model_validate_json(row["app_info"]) if row["app_info"] else None
        state.ready_at = row["ready_at"]
    return states


async def save_instances(connection: asyncpg.Connection, states: Iterable[InstanceState]) -> None:
    """Upsert every changed instance with its derived columns (one statement)."""
    rows = []
    for state in states:
        if not state.changed:
            continue
        facts = state.facts
        order_id, order_line_id = facts.order or ("", "")
        rows.append(
            (
                state.instance_id,
                json.dumps([change.to_json() for change in sorted(state.changes.values(), key=lambda c: c.key)]),
                state.status.value,
                order_id,
                order_line_id,
                json.dumps([{"orderId": order, "orderLineId": line} for order, line in facts.orders]),
                facts.expire_time,
                facts.scene,
                facts.product_id,
                facts.frozen,
                facts.released_at,
                facts.version,
                state.app_info.model_dump_json() if state.app_info else None,
                state.ready_at,
            )
        )
    if not rows:
        return
    await connection.execute(
        "INSERT INTO instances (instance_id, changes, status, order_id, order_line_id, orders, expire_time, scene,"
        " product_id, frozen, released_at, version, app_info, ready_at)"
        " SELECT i, c::jsonb, s, o, l, os::jsonb, e, sc, p, f, r, v, a::jsonb, ra"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
        " $8::text[], $9::text[], $10::boolean[], $11::timestamptz[], $12::timestamptz[], $13::text[],"
        " $14::timestamptz[]) AS x(i, c, s, o, l, os, e, sc, p, f, r, v, a, ra)"
        " ON CONFLICT (instance_id) DO UPDATE SET changes = EXCLUDED.changes, status = EXCLUDED.status,"
        " order_id = EXCLUDED.order_id, order_line_id = EXCLUDED.order_line_id, orders = EXCLUDED.orders,"
        " expire_time = EXCLUDED.expire_time, scene = EXCLUDED.scene, product_id = EXCLUDED.product_id,"
        " frozen = EXCLUDED.frozen, released_at = EXCLUDED.released_at, version = EXCLUDED.version,"
        " app_info = EXCLUDED.app_info, ready_at = EXCLUDED.ready_at, updated_at = now()",
        *[list(column) for column in zip(*rows, strict=True)],
    )
