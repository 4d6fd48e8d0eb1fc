"""GET /v1/tenants/{tenantId}/users: live users as sent, with the apps they are authorised for."""

from __future__ import annotations

import asyncpg

from tests.read_api.conftest import ReadApi
from tests.read_api.seed import insert_authorization, insert_department, insert_user


async def test_users_are_rendered(api: ReadApi, db: asyncpg.Connection, tenant_id: str) -> None:
    await insert_department(db, tenant_id, "sales")
    await insert_department(db, tenant_id, "closed", deleted=True)
    alice = {
        "userName": "alice",
        "name": "Alice 张",
        "orgCode": "sales",
        "role": "admin",
        "enable": "true",
        "mobile": "1",
    }
    await insert_user(db, tenant_id, alice)
    await insert_user(db, tenant_id, {"userName": "bob", "orgCode": "nowhere", "role": "user", "enable": "true"})
    await insert_user(db, tenant_id, {"userName": "carol", "orgCode": "closed", "role": "user", "enable": "false"})
    await insert_user(db, tenant_id, {"userName": "dave", "orgCode": "", "role": "user", "enable": "true"})
    await insert_user(db, tenant_id, {"userName": "eve", "orgCode": "sales"}, deleted=True)
    await insert_user(db, f"{tenant_id}-other", {"userName": "frank", "orgCode": "sales"})
    await insert_authorization(db, tenant_id, "alice", "app-2")
    await insert_authorization(db, tenant_id, "alice", "app-1")
    await insert_authorization(db, tenant_id, "alice", "app-revoked", authorized=False)
    await insert_authorization(db, tenant_id, "eve", "app-1")
    await insert_authorization(db, f"{tenant_id}-other", "bob", "app-elsewhere")

    status, body = await api.get(f"/v1/tenants/{tenant_id}/users")

    assert status == 200
    users = {user["userName"]: user for user in body["users"]}
    assert list(users) == ["alice", "bob", "carol", "dave"]  # eve is deleted, frank is another tenant's
    assert users["alice"] == {**alice, "authorizedApps": ["app-1", "app-2"], "orphan": False}
    assert users["bob"]["authorizedApps"] == []
    assert {name: user["orphan"] for name, user in users.items()} == {
        "alice": False,
        "bob": True,
        "carol": True,  # their department is a tombstone
        "dave": False,  # no department at all is not an orphan
    }
