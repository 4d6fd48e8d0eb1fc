"""The merchant's side of the order lifecycle (SPEC §9) on the read API (bearer token, like every read).

- GET /v1/instances?status=&limit=              instances, newest first (`status`: waiting, provisioning,
                                                ready, frozen, released)
- GET /v1/instances/{instanceId}                one instance: status, orders, expiry, plan, appInfo
                                                (never its password)
- PUT /v1/instances/{instanceId}/app-info       the merchant's application says where the instance is:
                                                `{frontEndUrl, adminUrl, userName, password, memo}`;
                                                the instance is ready (frozen if the platform froze it)
- GET /v1/instances/{instanceId}/events?limit=  its calls, with status, dead letter and ack (the console)

The PUT writes under the instance's lock, the one the workers take, in a transaction of its own: the
platform's calls and the merchant's appInfo never interleave on an instance.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import ValidationError

from read_api.exceptions import Conflict, InvalidRequest, NotFound
from read_api.handlers import json_answer
from read_api.instance_queries import instance_times, list_instances
from read_api.params import path_id, query_limit
from read_api.queries import snapshot, writing
from schemas.instance_calls import AppInfo
from workers.applier.instance_store import load_instances, lock_instances, save_instances
from workers.domain.instance_rules import NotProvisionable, provide_app_info
from workers.domain.instance_state import InstanceState, InstanceStatus
from workers.domain.instance_views import render_instance
from workers.replay.history import instance_history

LIST_DEFAULT_LIMIT = 100
LIST_MAX_LIMIT = 1000
EVENTS_DEFAULT_LIMIT = 100
EVENTS_MAX_LIMIT = 1000
# An appInfo is five short strings: anything much larger is not one.
_MAX_APP_INFO_BYTES = 16 * 1024
STATUSES = tuple(status.value for status in InstanceStatus)


def add_instance_routes(app: web.Application, pool: asyncpg.Pool) -> None:
    handlers = InstanceHandlers(pool)
    app.router.add_get("/v1/instances", handlers.listing)
    app.router.add_get("/v1/instances/{instanceId:[^/]+}", handlers.instance)
    app.router.add_put("/v1/instances/{instanceId:[^/]+}/app-info", handlers.app_info)
    app.router.add_get("/v1/instances/{instanceId:[^/]+}/events", handlers.events)


class InstanceHandlers:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def listing(self, request: web.Request) -> web.Response:
        status = request.query.get("status")  # present but empty is no status either: a 400, as documented
        if status is not None and status not in STATUSES:
            raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}")
        limit = query_limit(request, LIST_DEFAULT_LIMIT, LIST_MAX_LIMIT)
        async with snapshot(self._pool) as connection:
            found, more = await list_instances(connection, status=status, limit=limit)
        return json_answer({"instances": [summary.to_json() for summary in found], "more": more})

    async def instance(self, request: web.Request) -> web.Response:
        instance_id = path_id(request, "instanceId")
        async with snapshot(self._pool) as connection:
            state = (await load_instances(connection, [instance_id]))[instance_id]
            times = await instance_times(connection, instance_id)
        return json_answer(_shown(state, times))

    async def app_info(self, request: web.Request) -> web.Response:
        instance_id = path_id(request, "instanceId")
        app_info = await _app_info(request)
        async with writing(self._pool) as connection, connection.transaction():
            await lock_instances(connection, [instance_id])
            state = (await load_instances(connection, [instance_id]))[instance_id]
            if not state.changes:
                raise NotFound(f"instance {instance_id!r} not found")
            try:
                provide_app_info(state, app_info, datetime.now(UTC))
            except NotProvisionable as exc:
                raise Conflict(str(exc)) from None
            await save_instances(connection, [state])
            times = await instance_times(connection, instance_id)
        return json_answer(_shown(state, times))

    async def events(self, request: web.Request) -> web.Response:
        """The newest `?limit=` calls of the instance, oldest first; `more` when older ones exist."""
        instance_id = path_id(request, "instanceId")
        limit = query_limit(request, EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT)
        async with snapshot(self._pool) as connection:
            entries, more = await instance_history(connection, instance_id, since=None, limit=limit)
        return json_answer({"instanceId": instance_id, "events": [entry.to_json() for entry in entries], "more": more})


def _shown(state: InstanceState, times: dict[str, Any] | None) -> dict[str, Any]:
    if not state.changes or times is None:
        raise NotFound(f"instance {state.instance_id!r} not found")
    return {**render_instance(state), **times}


async def _app_info(request: web.Request) -> AppInfo:
    if request.content_length is not None and request.content_length > _MAX_APP_INFO_BYTES:
        raise InvalidRequest(f"the body is larger than {_MAX_APP_INFO_BYTES} bytes")
    raw = bytearray()
    while chunk := await request.content.readany():
        raw += chunk
        if len(raw) > _MAX_APP_INFO_BYTES:
            raise InvalidRequest(f"the body is larger than {_MAX_APP_INFO_BYTES} bytes")
    try:
        return AppInfo.model_validate_json(bytes(raw))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise InvalidRequest(f"{where}: {first['msg']}") from None
