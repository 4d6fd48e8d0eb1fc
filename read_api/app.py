"""The read API as an aiohttp application, and the one table that turns errors into HTTP answers."""

from __future__ import annotations

import logging
from typing import NamedTuple

import asyncpg
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from read_api.auth import require_bearer_token
from read_api.console.routes import add_console_routes
from read_api.exceptions import Conflict, DatabaseUnavailable, InvalidRequest, NotFound, ReadApiError
from read_api.handlers import ReadHandlers, json_answer
from read_api.instance_routes import add_instance_routes
from read_api.metrics import ApiMetrics
from runtime.openapi import add_openapi_route
from runtime.ops_server import Metrics, Readiness, add_ops_routes
from runtime.probes import pool_probe

log = logging.getLogger(__name__)


class ErrorAnswer(NamedTuple):
    status: int
    message: str | None  # None: the error's own text, which is written for the caller


_ANSWERS: dict[type[ReadApiError], ErrorAnswer] = {
    InvalidRequest: ErrorAnswer(400, None),
    NotFound: ErrorAnswer(404, None),
    Conflict: ErrorAnswer(409, None),
    DatabaseUnavailable: ErrorAnswer(503, "database unavailable, try again later"),
}
_INTERNAL = ErrorAnswer(500, "internal error")


def build_api_app(
    pool: asyncpg.Pool, api_token: str, *, metrics: Metrics | None = None, ready_url_template: str | None = None
) -> web.Application:
    """The read API of SPEC §7 (and the merchant's side of §9: instances) over `pool`, which the caller
    owns (and closes). `ready_url_template` (SYNCPIPE_INSTANCE_READY_URL_TEMPLATE) serves a newInstance
    re-driven from its dead letter as the workers would.

    Every route but the operations ones (`/healthz`, `/readyz` = Postgres answers, `/metrics` of
    `metrics`, a registry of its own when not given, `/openapi.json`) needs `Authorization: Bearer
    <api_token>`. Every answer is JSON, errors included (`{"error": ...}`), but the Prometheus text
    of `/metrics`; no stack trace ever leaves the process. Raises ApiNotConfigured if `api_token`
    is empty or holds whitespace.
    """
    metrics = metrics if metrics is not None else Metrics()
    middlewares = [ApiMetrics(metrics.registry).middleware(), answer_errors_as_json, require_bearer_token(api_token)]
    app = web.Application(middlewares=middlewares)
    app.on_response_prepare.append(_private_data_headers)
    handlers = ReadHandlers(pool)
    add_ops_routes(app, metrics, Readiness({"postgres": pool_probe(pool)}))
    add_openapi_route(app)
    # Ids are any segment: aiohttp's default pattern leaves out braces, which a tenantId may hold.
    app.router.add_get("/v1/tenants/{tenantId:[^/]+}", handlers.tenant)
    app.router.add_get("/v1/tenants/{tenantId:[^/]+}/departments", handlers.departments)
    app.router.add_get("/v1/tenants/{tenantId:[^/]+}/users", handlers.users)
    app.router.add_get("/v1/tenants/{tenantId:[^/]+}/applications", handlers.applications)
    app.router.add_get("/v1/events/{eventId:[^/]+}", handlers.event)
    add_instance_routes(app, pool)
    add_console_routes(app, pool, metrics, ready_url_template=ready_url_template)
    return app


async def _private_data_headers(request: web.Request, response: web.StreamResponse) -> None:
    """A /v1 answer is one tenant's data, fetched with a token: no cache may keep it, and no browser may
    read it as anything but what its Content-Type says."""
    if request.path == "/v1" or request.path.startswith("/v1/"):
        response.headers[hdrs.X_CONTENT_TYPE_OPTIONS] = "nosniff"
        response.headers[hdrs.CACHE_CONTROL] = "no-store"


@web.middleware
async def answer_errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost: our errors by `_ANSWERS`, aiohttp's own (404, 405) as JSON, anything else a logged 500."""
    try:
        return await handler(request)
    except ReadApiError as error:
        answer = _answer_for(error)
        if answer is _INTERNAL:
            log.exception("%s %s failed", request.method, request.path)
        elif answer.status >= 500:
            log.warning("%s %s answered %d: %s", request.method, request.path, answer.status, error)
        return json_answer({"error": answer.message or str(error)}, status=answer.status)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        allow = error.headers.get(hdrs.ALLOW)
        headers = {hdrs.ALLOW: allow} if allow is not None else None
        return json_answer({"error": error.reason.lower()}, status=error.status, headers=headers)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return json_answer({"error": _INTERNAL.message}, status=_INTERNAL.status)


def _answer_for(error: ReadApiError) -> ErrorAnswer:
    for kind in type(error).__mro__:
        if kind in _ANSWERS:
            return _ANSWERS[kind]
    return _INTERNAL
