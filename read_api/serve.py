"""`syncpipe api`: the read API as a process of its own, wired from the one settings object."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
from aiohttp import web

from read_api.app import build_api_app
from read_api.auth import check_api_token
from read_api.exceptions import ApiNotConfigured
from runtime.ops_server import Metrics, http_runner
from runtime.postgres.migrate import migrate
from runtime.settings import Settings

log = logging.getLogger(__name__)

# Reads are short and the workers share the server's max_connections; ten in flight is plenty.
POOL_MAX_SIZE = 10
# A read past this means Postgres is in trouble: the request is answered 503 instead of hanging.
STATEMENT_TIMEOUT_S = 10.0
# On shutdown, in-flight reads get this long to finish (they are bounded by the statement timeout).
SHUTDOWN_TIMEOUT_S = 5.0


async def serve_api(settings: Settings, ready: asyncio.Event | None = None, *, metrics: Metrics | None = None) -> None:
    """Serve the read API on `settings.api_host:api_port` until cancelled, then close cleanly.

    Migrates the database first, then sets `ready` once the port is bound. Raises ApiNotConfigured
    before connecting to anything when `api_token` or `database_url` is missing. Its metrics go to
    `metrics` (the process's; a registry of its own when not given).
    """
    token = check_api_token(settings.api_token.get_secret_value() if settings.api_token is not None else "")
    if settings.database_url is None:
        raise ApiNotConfigured("the read API needs a database: set DATABASE_URL")
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(),
        min_size=1,
        max_size=POOL_MAX_SIZE,
        command_timeout=STATEMENT_TIMEOUT_S,
    )
    try:
        async with pool.acquire() as connection:
            await migrate(connection)
        app = build_api_app(pool, token, metrics=metrics, ready_url_template=settings.instance_ready_url_template)
        runner = http_runner(app, settings, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            await web.TCPSite(runner, settings.api_host, settings.api_port).start()
            log.info("read API listening on http://%s:%d", settings.api_host, settings.api_port)
            if ready is not None:
                ready.set()
            await asyncio.Event().wait()  # until cancelled
        finally:
            await runner.cleanup()
    finally:
        await pool.close()
