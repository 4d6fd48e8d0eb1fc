"""GET /v1/tenants/{tenantId}/applications: live applications, never their client secret."""

from __future__ import annotations

import asyncpg

from tests.read_api.conftest import ReadApi
from tests.read_api.seed import insert_application


async def test_applications_never_carry_the_secret(api: ReadApi, db: asyncpg.Connection, tenant_id: str) -> None:
    await insert_application(db, tenant_id, "app-2", "c2VjcmV0LTI=")
    await insert_application(db, tenant_id, "app-1", "c2VjcmV0LTE=")
    await insert_application(db, tenant_id, "app-gone", "c2VjcmV0LTM=", deleted=True)

    response = await api.client.get(
        f"/v1/tenants/{tenant_id}/applications", headers={"Authorization": f"Bearer {api.token}"}
    )

    assert response.status == 200
    assert "c2VjcmV0" not in await response.text()
    assert await response.json() == {
        "applications": [
            {"appId": "app-1", "clientId": "client-app-1", "instanceId": "inst-1"},
            {"appId": "app-2", "clientId": "client-app-2", "instanceId": "inst-1"},
        ]
    }
