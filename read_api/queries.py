"""Set-based reads of the converged state: one statement per table, rows turned into domain records.

Everything one request reads happens inside `snapshot`, so a batch the applier commits meanwhile
shows entirely or not at all.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from read_api.event_status import ACCEPTED, AckState, EventStatus
from read_api.exceptions import DatabaseUnavailable
from runtime.outages import is_retriable
from workers.acks.outbox import ACK_OF_EVENT_JOIN, ACK_ROWS_PRUNED
from workers.domain.records import ApplicationRecord, AuthorizationRecord, DepartmentRecord, TenantRecord, UserRecord

# A free connection not found in this time means Postgres or the pool is swamped: answer 503, not wait.
ACQUIRE_TIMEOUT_S = 5.0


@asynccontextmanager
async def snapshot(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection in a read-only REPEATABLE READ transaction; an outage surfaces as DatabaseUnavailable."""
    try:
        async with (
            pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield connection
    except Exception as error:
        if not is_retriable(error):
            raise
        raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error


@asynccontextmanager
async def writing(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A connection outside any transaction, for the few routes that write (each makes its own
    transactions); an outage surfaces as DatabaseUnavailable."""
    try:
        async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as connection:
            yield connection
    except Exception as error:
        if not is_retriable(error):
            raise
        raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error


async def fetch_tenant(connection: asyncpg.Connection, tenant_id: str) -> TenantRecord | None:
    """The tenant record, tombstone included; None if it was never written (a row of floors only)."""
    row = await connection.fetchrow(
        "SELECT version, deleted, tenant_code, name, domain_name, instance_id, order_id"
        " FROM tenants WHERE tenant_id = $1 AND version IS NOT NULL",
        tenant_id,
    )
    if row is None:
        return None
    return TenantRecord(
        version=row["version"],
        deleted=row["deleted"],
        tenant_code=row["tenant_code"],
        name=row["name"],
        domain_name=row["domain_name"],
        instance_id=row["instance_id"],
        order_id=row["order_id"],
    )


async def fetch_live_departments(connection: asyncpg.Connection, tenant_id: str) -> list[DepartmentRecord]:
    rows = await connection.fetch(
        "SELECT org_code, version, org_name, parent_code FROM departments WHERE tenant_id = $1 AND NOT deleted",
        tenant_id,
    )
    return [
        DepartmentRecord(
            org_code=row["org_code"],
            version=row["version"],
            deleted=False,
            org_name=row["org_name"],
            parent_code=row["parent_code"],
        )
        for row in rows
    ]


async def fetch_live_department_codes(connection: asyncpg.Connection, tenant_id: str) -> set[str]:
    rows = await connection.fetch(
        "SELECT org_code FROM departments WHERE tenant_id = $1 AND NOT deleted",
        tenant_id,
    )
    return {row["org_code"] for row in rows}


async def fetch_live_users(connection: asyncpg.Connection, tenant_id: str) -> list[UserRecord]:
    # `data::text` so the entry decodes the same whatever jsonb codec the pool was given.
    rows = await connection.fetch(
        "SELECT user_name, version, data::text AS data, auth_floor FROM users WHERE tenant_id = $1 AND NOT deleted",
        tenant_id,
    )
    return [
        UserRecord(
            user_name=row["user_name"],
            version=row["version"],
            deleted=False,
            data=_json_object(row["data"]),
            auth_floor=row["auth_floor"],
        )
        for row in rows
    ]


async def fetch_granted_authorizations(connection: asyncpg.Connection, tenant_id: str) -> list[AuthorizationRecord]:
    """Authorisations in force; revoked ones (authorized = false) are kept in storage only as versions."""
    rows = await connection.fetch(
        "SELECT app_id, user_name, version FROM authorizations WHERE tenant_id = $1 AND authorized",
        tenant_id,
    )
    return [
        AuthorizationRecord(app_id=row["app_id"], user_name=row["user_name"], version=row["version"], authorized=True)
        for row in rows
    ]


async def fetch_live_applications(connection: asyncpg.Connection, tenant_id: str) -> list[ApplicationRecord]:
    # client_secret is not even selected: what is never read can never be served.
    rows = await connection.fetch(
        "SELECT app_id, version, client_id, instance_id FROM applications WHERE tenant_id = $1 AND NOT deleted",
        tenant_id,
    )
    return [
        ApplicationRecord(
            app_id=row["app_id"],
            version=row["version"],
            deleted=False,
            client_id=row["client_id"],
            instance_id=row["instance_id"],
        )
        for row in rows
    ]


async def fetch_event_status(connection: asyncpg.Connection, event_id: str) -> EventStatus | None:
    """The event's row; failing that `accepted` if parts of it are held (a large call being
    assembled); None if the pipeline never saw it."""
    # Of the event's acks (one per record that finished it), the oldest still owed, else the first.
    row = await connection.fetchrow(
        "SELECT e.tenant_id, e.interface, e.status, e.reason, e.time_stamp, e.duplicates, e.finished_at,"
        " a.ack_id, a.sent_at IS NOT NULL AS ack_sent, a.attempts AS ack_attempts, a.last_error AS ack_error,"
        f" {ACK_ROWS_PRUNED} AS ack_pruned"
        " FROM events e" + ACK_OF_EVENT_JOIN + " WHERE e.event_id = $1",
        event_id,
    )
    if row is not None:
        ack = None
        if row["ack_id"] is not None:
            ack = AckState(sent=row["ack_sent"], attempts=row["ack_attempts"], last_error=row["ack_error"])
        elif row["ack_pruned"]:
            ack = AckState(sent=True, attempts=None, last_error=None)
        return EventStatus(
            event_id=event_id,
            tenant_id=row["tenant_id"],
            status=row["status"],
            interface=row["interface"],
            reason=row["reason"],
            time_stamp=row["time_stamp"],
            duplicates=row["duplicates"],
            finished_at=row["finished_at"],
            ack=ack,
        )
    part = await connection.fetchrow("SELECT tenant_id FROM event_parts WHERE event_id = $1 LIMIT 1", event_id)
    if part is None:
        return None
    return EventStatus(event_id=event_id, tenant_id=part["tenant_id"], status=ACCEPTED)


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise TypeError(f"users.data holds a JSON {type(value).__name__}, not an object")
    return value
