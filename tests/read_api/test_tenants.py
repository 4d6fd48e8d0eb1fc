"""GET /v1/tenants/{tenantId}: the tenant record, deleted or not; 404 if it was never written."""

from __future__ import annotations

from urllib.parse import quote

import asyncpg
import pytest

from tests.read_api.conftest import ReadApi
from tests.read_api.seed import T0, insert_department, insert_tenant


async def test_a_tenant_never_written_is_not_found(api: ReadApi, tenant_id: str) -> None:
    status, body = await api.get(f"/v1/tenants/{tenant_id}")
    assert status == 404
    assert tenant_id in body["error"]


async def test_a_tenant_row_holding_only_floors_is_not_found(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    # What a department arriving before any tenantSync, or an allOrgSync floor, leaves behind.
    await insert_tenant(db, tenant_id, version=None, tenant_floor=T0)
    await insert_department(db, tenant_id, "d1")
    status, _ = await api.get(f"/v1/tenants/{tenant_id}")
    assert status == 404


async def test_a_tenant_is_rendered(api: ReadApi, db: asyncpg.Connection, tenant_id: str) -> None:
    await insert_tenant(db, tenant_id, instance_id="inst-9", order_id="order-9")
    status, body = await api.get(f"/v1/tenants/{tenant_id}")
    assert status == 200
    assert body == {
        "tenantId": tenant_id,
        "tenantCode": "acme",
        "name": "Acme 股份",
        "domainName": "https://sso.acme.example",
        "instanceId": "inst-9",
        "orderId": "order-9",
        "deleted": False,
    }


async def test_a_deleted_tenant_is_served_as_deleted(api: ReadApi, db: asyncpg.Connection, tenant_id: str) -> None:
    await insert_tenant(db, tenant_id, deleted=True, tenant_floor=T0)
    status, body = await api.get(f"/v1/tenants/{tenant_id}")
    assert status == 200
    assert body["deleted"] is True


async def test_other_tenants_are_not_mixed_in(api: ReadApi, db: asyncpg.Connection, tenant_id: str) -> None:
    await insert_tenant(db, tenant_id, name="mine")
    await insert_tenant(db, f"{tenant_id}-other", name="theirs")
    _, body = await api.get(f"/v1/tenants/{tenant_id}")
    assert body["name"] == "mine"


async def test_a_tenant_with_no_rows_has_empty_lists(api: ReadApi, tenant_id: str) -> None:
    for collection in ("departments", "users", "applications"):
        status, body = await api.get(f"/v1/tenants/{tenant_id}/{collection}")
        assert (status, body) == (200, {collection: []})
    status, body = await api.get(f"/v1/tenants/{tenant_id}/departments", format="tree")
    assert (status, body) == (200, {"departments": []})


async def test_an_id_is_read_percent_decoded(api: ReadApi, db: asyncpg.Connection) -> None:
    # Tenant ids are the platform's: a client quotes them whole, slashes and non-ASCII included.
    await insert_tenant(db, "acme/华东 1")
    status, body = await api.get(f"/v1/tenants/{quote('acme/华东 1', safe='')}")
    assert (status, body["tenantId"]) == (200, "acme/华东 1")


async def test_a_dot_segment_tenant_id_travels_in_the_query(api: ReadApi, db: asyncpg.Connection) -> None:
    """URL parsers remove "." and ".." from a path (percent-encoded too): `/v1/tenants/./users` reaches the
    server as `/v1/tenants/users`. Such an id is sent as `?tenantId=`, with `~` in its place."""
    for tenant_id in (".", "..", "users", "~"):
        await insert_tenant(db, tenant_id, name=f"named {tenant_id}")
    await insert_department(db, "..", "only-in-dot-dot")
    for tenant_id in (".", ".."):
        status, body = await api.get("/v1/tenants/~", tenantId=tenant_id)
        assert (status, body["tenantId"], body["name"]) == (200, tenant_id, f"named {tenant_id}")
    _, departments = await api.get("/v1/tenants/~/departments", tenantId="..", format="tree")
    assert [department["orgCode"] for department in departments["departments"]] == ["only-in-dot-dot"]
    status, body = await api.get("/v1/tenants/~")  # without the parameter: the tenant whose id is "~"
    assert (status, body["tenantId"]) == (200, "~")
    status, body = await api.get("/v1/tenants/users", tenantId=".")  # the parameter names only a "~"
    assert (status, body["tenantId"]) == (200, "users")


@pytest.mark.parametrize("bad", ["x" * 65, "a\x00b"])
async def test_a_tenant_id_parameter_that_can_name_nothing_is_a_400_whatever_the_path(api: ReadApi, bad: str) -> None:
    """The OpenAPI description bounds `?tenantId=` (64 characters, no NUL): out of bounds is refused, also
    beside a path that does not hold `~` (schemathesis found it answered 200)."""
    for path in ("/v1/tenants/~/users", "/v1/tenants/t-1/users"):
        status, body = await api.get(path, tenantId=bad)
        assert status == 400, (path, body)
        assert body["error"].startswith("tenantId ")
