"""The synced state a sign-in checks, read from the tables the workers write (migration 0001).

Each read is one read-only REPEATABLE READ transaction, so a batch the applier commits meanwhile
shows entirely or not at all; an outage becomes SignInRefused(DATABASE_UNAVAILABLE). Rows below a
floor (tenant delete, user delete) are already gone from these tables: what is here is in force.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from runtime.outages import is_retriable
from signin.decision import SyncedApplication, SyncedTenant, SyncedUser
from signin.exceptions import SignInRefused
from signin.refusals import Refusal

# A free connection not found in this time means Postgres is swamped: refuse the sign-in, do not hang.
ACQUIRE_TIMEOUT_S = 5.0


class SyncedState:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def tenant_and_application(
        self, tenant_id: str, app_id: str
    ) -> tuple[SyncedTenant | None, SyncedApplication | None]:
        async with self._snapshot() as connection:
            tenant = await _tenant(connection, tenant_id)
            row = await connection.fetchrow(
                "SELECT client_id, client_secret FROM applications"
                " WHERE tenant_id = $1 AND app_id = $2 AND NOT deleted",
                tenant_id,
                app_id,
            )
        application = None if row is None else SyncedApplication(row["client_id"], row["client_secret"])
        return tenant, application

    async def tenant(self, tenant_id: str) -> SyncedTenant | None:
        async with self._snapshot() as connection:
            return await _tenant(connection, tenant_id)

    async def tenant_and_user(
        self, tenant_id: str, user_name: str, app_id: str
    ) -> tuple[SyncedTenant | None, SyncedUser | None]:
        async with self._snapshot() as connection:
            tenant = await _tenant(connection, tenant_id)
            # `data::text` so the entry decodes the same whatever jsonb codec the pool was given.
            row = await connection.fetchrow(
                "SELECT u.data::text AS data, COALESCE(a.authorized, false) AS authorized FROM users u"
                " LEFT JOIN authorizations a"
                " ON a.tenant_id = u.tenant_id AND a.user_name = u.user_name AND a.app_id = $3"
                " WHERE u.tenant_id = $1 AND u.user_name = $2 AND NOT u.deleted",
                tenant_id,
                user_name,
                app_id,
            )
        if row is None:
            return tenant, None
        entry = json.loads(row["data"])
        user = SyncedUser(
            enabled=entry.get("enable") is True,
            authorised=row["authorized"],
            name=str(entry.get("name", "")),
            role=str(entry.get("role", "user")),
            org_code=str(entry.get("orgCode", "")),
        )
        return tenant, user

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[asyncpg.Connection]:
        try:
            async with (
                self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as connection,
                connection.transaction(isolation="repeatable_read", readonly=True),
            ):
                yield connection
        except SignInRefused:
            raise
        except Exception as error:
            if not is_retriable(error):
                raise
            raise SignInRefused(Refusal.DATABASE_UNAVAILABLE, f"{type(error).__name__}: {error}") from error


async def _tenant(connection: asyncpg.Connection, tenant_id: str) -> SyncedTenant | None:
    """None if the tenant record was never written (a row holding only floors does not count)."""
    row = await connection.fetchrow(
        "SELECT deleted, domain_name FROM tenants WHERE tenant_id = $1 AND version IS NOT NULL", tenant_id
    )
    return None if row is None else SyncedTenant(deleted=row["deleted"], domain_name=row["domain_name"])
