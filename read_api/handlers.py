"""The read API's routes (SPEC §7): decode the path, read one snapshot, render with `workers.domain.views`."""

from __future__ import annotations

import functools
import json
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.typedefs import LooseHeaders

from read_api.event_status import render_event_status
from read_api.exceptions import InvalidRequest, NotFound
from read_api.params import path_id
from read_api.queries import (
    fetch_event_status,
    fetch_granted_authorizations,
    fetch_live_applications,
    fetch_live_department_codes,
    fetch_live_departments,
    fetch_live_users,
    fetch_tenant,
    snapshot,
)
from workers.domain.views import (
    department_tree,
    render_applications,
    render_departments,
    render_tenant,
    render_users,
)

DEPARTMENT_FORMATS = ("flat", "tree")

_dumps = functools.partial(json.dumps, ensure_ascii=False)


def json_answer(body: dict[str, Any], status: int = 200, headers: LooseHeaders | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers, dumps=_dumps)


class ReadHandlers:
    """One handler per route; every read of a request goes through one `snapshot` of `pool`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def tenant(self, request: web.Request) -> web.Response:
        """The tenant record (a deleted one too, flagged); 404 if it was never written."""
        tenant_id = path_id(request, "tenantId")
        async with snapshot(self._pool) as connection:
            record = await fetch_tenant(connection, tenant_id)
        if record is None:
            raise NotFound(f"tenant {tenant_id!r} not found")
        return json_answer(render_tenant(tenant_id, record))

    async def departments(self, request: web.Request) -> web.Response:
        """Live departments, flat (default) or as a tree with `?format=tree`; orphans and cycles flagged."""
        tenant_id = path_id(request, "tenantId")
        shape = request.query.get("format", "flat")
        if shape not in DEPARTMENT_FORMATS:
            raise InvalidRequest(f"format must be one of {', '.join(DEPARTMENT_FORMATS)}")
        async with snapshot(self._pool) as connection:
            records = await fetch_live_departments(connection, tenant_id)
        departments = render_departments(records)
        return json_answer({"departments": department_tree(departments) if shape == "tree" else departments})

    async def users(self, request: web.Request) -> web.Response:
        """Live users with the apps they are authorised for, flagged orphan if their department is unknown."""
        tenant_id = path_id(request, "tenantId")
        async with snapshot(self._pool) as connection:
            users = await fetch_live_users(connection, tenant_id)
            authorizations = await fetch_granted_authorizations(connection, tenant_id)
            department_codes = await fetch_live_department_codes(connection, tenant_id)
        return json_answer({"users": render_users(users, authorizations, department_codes)})

    async def applications(self, request: web.Request) -> web.Response:
        """Live applications, without their client secret."""
        tenant_id = path_id(request, "tenantId")
        async with snapshot(self._pool) as connection:
            records = await fetch_live_applications(connection, tenant_id)
        return json_answer({"applications": render_applications(records)})

    async def event(self, request: web.Request) -> web.Response:
        """Where an event is: its final status, `accepted` while its parts arrive, 404 if never seen."""
        event_id = path_id(request, "eventId")
        async with snapshot(self._pool) as connection:
            status = await fetch_event_status(connection, event_id)
        if status is None:
            raise NotFound(f"event {event_id!r} not found")
        return json_answer(render_event_status(status))
