"""Rows of the schema written with plain SQL, as the applier would leave them, for the read API to serve."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

T0 = datetime(2025, 3, 1, 4, 0, tzinfo=UTC)


def at(milliseconds: int) -> datetime:
    """A version `milliseconds` after T0."""
    return T0 + timedelta(milliseconds=milliseconds)


async def insert_tenant(
    db: asyncpg.Connection,
    tenant_id: str,
    *,
    version: datetime | None = T0,
    deleted: bool = False,
    tenant_floor: datetime | None = None,
    **fields: str,
) -> None:
    values = {"tenant_code": "acme", "name": "Acme 股份", "domain_name": "https://sso.acme.example", **fields}
    await db.execute(
        "INSERT INTO tenants (tenant_id, version, deleted, tenant_code, name, domain_name, instance_id, order_id,"
        " tenant_floor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        tenant_id,
        version,
        deleted,
        values["tenant_code"],
        values["name"],
        values["domain_name"],
        values.get("instance_id", "inst-1"),
        values.get("order_id", "order-1"),
        tenant_floor,
    )


async def insert_department(
    db: asyncpg.Connection, tenant_id: str, org_code: str, parent_code: str = "", *, deleted: bool = False
) -> None:
    await db.execute(
        "INSERT INTO departments (tenant_id, org_code, version, deleted, org_name, parent_code)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        tenant_id,
        org_code,
        T0,
        deleted,
        f"部门 {org_code}",
        parent_code,
    )


async def insert_user(db: asyncpg.Connection, tenant_id: str, data: dict[str, Any], *, deleted: bool = False) -> None:
    await db.execute(
        "INSERT INTO users (tenant_id, user_name, version, deleted, data) VALUES ($1, $2, $3, $4, $5::jsonb)",
        tenant_id,
        data["userName"],
        T0,
        deleted,
        json.dumps(data),
    )


async def insert_authorization(
    db: asyncpg.Connection, tenant_id: str, user_name: str, app_id: str, *, authorized: bool = True
) -> None:
    await db.execute(
        "INSERT INTO authorizations (tenant_id, user_name, app_id, version, authorized) VALUES ($1, $2, $3, $4, $5)",
        tenant_id,
        user_name,
        app_id,
        T0,
        authorized,
    )


async def insert_application(
    db: asyncpg.Connection, tenant_id: str, app_id: str, client_secret: str, *, deleted: bool = False
) -> None:
    await db.execute(
        "INSERT INTO applications (tenant_id, app_id, version, deleted, client_id, client_secret, instance_id)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        tenant_id,
        app_id,
        T0,
        deleted,
        f"client-{app_id}",
        client_secret,
        "inst-1",
    )


async def insert_event(
    db: asyncpg.Connection,
    event_id: str,
    tenant_id: str,
    status: str,
    *,
    reason: str | None = None,
    duplicates: int = 0,
    finished_at: datetime = T0,
) -> None:
    await db.execute(
        "INSERT INTO events (event_id, tenant_id, interface, time_stamp, status, reason, finished_at, duplicates)"
        " VALUES ($1, $2, 'singleOrgSync', $3, $4, $5, $6, $7)",
        event_id,
        tenant_id,
        T0,
        status,
        reason,
        finished_at,
        duplicates,
    )


async def insert_event_part(db: asyncpg.Connection, event_id: str, tenant_id: str, part_index: int) -> None:
    await db.execute(
        "INSERT INTO event_parts (upload_id, part_index, part_count, event_id, tenant_id, data)"
        " VALUES ($1, $2, 3, $3, $4, $5)",
        f"upload-{event_id}",
        part_index,
        event_id,
        tenant_id,
        b"{...",
    )


async def insert_ack(
    db: asyncpg.Connection,
    event_id: str,
    *,
    offset: int,
    sent: bool,
    attempts: int,
    last_error: str | None = None,
) -> None:
    """An ack_outbox row as an acker leaves it (the body is not what these tests read)."""
    await db.execute(
        "INSERT INTO ack_outbox (event_id, kafka_partition, kafka_offset, outcome, body, attempts, last_error, sent_at)"
        " VALUES ($1, 0, $2, 'applied', '{}'::jsonb, $3, $4, CASE WHEN $5 THEN now() END)",
        event_id,
        offset,
        attempts,
        last_error,
        sent,
    )
