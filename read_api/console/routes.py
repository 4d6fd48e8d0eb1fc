"""The operator console: its JSON routes under /v1 (bearer token, like every read) and its pages under
/console (open: the page and its scripts hold no data, which they fetch with the token).

- GET  /v1/overview                         pipeline at a glance, refreshed by the page every few seconds
- GET  /v1/tenants?search=&limit=           tenants by id, name or code
- GET  /v1/tenants/{tenantId}/events        the tenant's event timeline with ack states
- GET  /v1/events/{eventId}/detail          envelope, redacted payload, history, acks, dead letters
- /v1/dead-letters...                       see dead_letter_routes.py
"""

from __future__ import annotations

import asyncpg
from aiohttp import web

from read_api.console.queries import (
    database_now,
    fetch_backlog,
    fetch_event_detail,
    fetch_finished_series,
    fetch_retention,
    search_tenants,
)
from read_api.console.site import add_console_site
from read_api.console.views import render_event_detail, render_overview, render_tenant_match
from read_api.dead_letter_routes import DeadLetterHandlers
from read_api.exceptions import NotFound
from read_api.handlers import json_answer
from read_api.params import path_id, query_limit, query_text
from read_api.process_metrics import read_process_metrics
from read_api.queries import snapshot
from runtime.ops_server import Metrics
from workers.replay.history import tenant_history

# The overview's chart: ten minutes in 10 s bars, enough to see a burst and its drain; the rates
# are over the last minute so that one quiet bar does not read as a stopped pipeline.
OVERVIEW_WINDOW_S = 600
OVERVIEW_BUCKET_S = 10
OVERVIEW_RATE_S = 60
SEARCH_LIMIT = 50
SEARCH_MAX_LENGTH = 255  # SPEC §1: a tenant's name is at most 255 characters
EVENTS_DEFAULT_LIMIT = 100
EVENTS_MAX_LIMIT = 1000


def add_console_routes(
    app: web.Application, pool: asyncpg.Pool, metrics: Metrics, *, ready_url_template: str | None = None
) -> None:
    """The console's pages and every route they call; `metrics` is the process's (lag, gateway calls);
    `ready_url_template` is for the dead letters it retries."""
    handlers = ConsoleHandlers(pool, metrics)
    app.router.add_get("/v1/overview", handlers.overview)
    app.router.add_get("/v1/tenants", handlers.tenants)
    app.router.add_get("/v1/tenants/{tenantId:[^/]+}/events", handlers.tenant_events)
    app.router.add_get("/v1/events/{eventId:[^/]+}/detail", handlers.event_detail)
    DeadLetterHandlers(pool, ready_url_template=ready_url_template).add_routes(app)
    add_console_site(app)


class ConsoleHandlers:
    def __init__(self, pool: asyncpg.Pool, metrics: Metrics) -> None:
        self._pool = pool
        self._metrics = metrics

    async def overview(self, request: web.Request) -> web.Response:
        async with snapshot(self._pool) as connection:
            now = await database_now(connection)
            series = await fetch_finished_series(
                connection, now, window_s=OVERVIEW_WINDOW_S, bucket_s=OVERVIEW_BUCKET_S, recent_s=OVERVIEW_RATE_S
            )
            backlog = await fetch_backlog(connection)
            retention = await fetch_retention(connection)
        process = await read_process_metrics(self._metrics)
        return json_answer(render_overview(now, series, backlog, retention, process, bucket_s=OVERVIEW_BUCKET_S))

    async def tenants(self, request: web.Request) -> web.Response:
        """`?search=` part of an id, name or code (empty: the first tenants by id)."""
        text = query_text(request, "search", SEARCH_MAX_LENGTH)
        limit = query_limit(request, SEARCH_LIMIT, SEARCH_LIMIT)
        async with snapshot(self._pool) as connection:
            matches = await search_tenants(connection, text, limit=limit)
        return json_answer({"tenants": [render_tenant_match(match) for match in matches]})

    async def tenant_events(self, request: web.Request) -> web.Response:
        """The newest `?limit=` events of the tenant, oldest first; `more` when older ones exist."""
        tenant_id = path_id(request, "tenantId")
        limit = query_limit(request, EVENTS_DEFAULT_LIMIT, EVENTS_MAX_LIMIT)
        async with snapshot(self._pool) as connection:
            history = await tenant_history(connection, tenant_id, since=None, limit=limit)
        return json_answer(history.to_json())  # the document `syncpipe events --tenant ID --json` prints

    async def event_detail(self, request: web.Request) -> web.Response:
        event_id = path_id(request, "eventId")
        async with snapshot(self._pool) as connection:
            detail = await fetch_event_detail(connection, event_id)
        if detail is None:
            raise NotFound(f"event {event_id!r} not found")
        return json_answer(render_event_detail(detail))
