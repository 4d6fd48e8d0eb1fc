"""The operations endpoints of every syncpipe process: `/metrics`, `/healthz`, `/readyz`.

- `/healthz` answers 200 while the process runs its event loop (liveness: restart it if not);
- `/readyz` answers 200 only while every readiness probe passes (the dependencies the process needs
  are reachable and its components started), else 503 naming the failing ones (send it no traffic);
- `/metrics` is the Prometheus text format of the process's registry.

The gateway and the read API add these routes to their own app (`add_ops_routes`); the worker and
the acker, which have no HTTP port of their own, serve them with an `OpsServer` on their ops port.
"""

from __future__ import annotations

import asyncio
import logging
import platform
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from importlib import metadata
from types import TracebackType

from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, disable_created_metrics, generate_latest

from runtime.http_server import HardenedAppRunner
from runtime.probes import PROBE_TIMEOUT_S, KafkaProbe, PostgresProbe, Probe
from runtime.settings import Settings

log = logging.getLogger(__name__)

Refresh = Callable[[], Awaitable[None]]

# What `generate_latest` writes: the classic text format, which every Prometheus version reads.
METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A probe's result is reused this long, so orchestrators probing often cost the dependencies nothing.
PROBE_CACHE_S = 1.0
# What refreshes before a scrape (consumer lag, outbox counts) may take; past it the scrape goes on
# with the previous values, well inside Prometheus' default 10 s scrape timeout.
REFRESH_TIMEOUT_S = 2.0
# The ops server answers three small GETs; in-flight scrapes get this long on shutdown.
_OPS_SHUTDOWN_TIMEOUT_S = 2.0


class Metrics:
    """A Prometheus registry, and what to refresh just before each scrape of it.

    One per process: every component of the process registers its metrics on `registry`, and every
    `/metrics` of the process (the gateway's, the API's, the ops port's) serves all of them.
    Nothing here connects to anything; refreshes are added by the components that own a connection.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # A `_created` series per counter and histogram doubles what is scraped and tells an operator
        # nothing (a restart shows in `process_start_time_seconds`); the switch is process-wide.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry if registry is not None else CollectorRegistry()
        self._refreshes: list[Refresh] = []
        build = Gauge(
            "syncpipe_build_info",
            "Always 1; the labels say which syncpipe and Python this process runs.",
            ["version", "python"],
            registry=self.registry,
        )
        build.labels(metadata.version("syncpipe"), platform.python_version()).set(1)

    def refresh_on_scrape(self, refresh: Refresh) -> None:
        self._refreshes.append(refresh)

    async def exposition(self) -> bytes:
        """The registry in the Prometheus text format, after the refreshes (each bounded in time)."""
        for refresh in list(self._refreshes):
            try:
                async with asyncio.timeout(REFRESH_TIMEOUT_S):
                    await refresh()
            except Exception as exc:  # a metric left stale must not cost the scrape of all the others
                log.warning("metrics refresh %s failed: %r", getattr(refresh, "__qualname__", refresh), exc)
        return generate_latest(self.registry)


class _CachedProbe:
    """A probe bounded by PROBE_TIMEOUT_S, its result reused for PROBE_CACHE_S; any error = failed."""

    def __init__(self, name: str, probe: Probe) -> None:
        self._name = name
        self._probe = probe
        self._lock = asyncio.Lock()
        self._checked_at = float("-inf")
        self._passed = True  # only for logging changes: the first failure is logged

    async def __call__(self) -> bool:
        async with self._lock:
            if time.monotonic() - self._checked_at < PROBE_CACHE_S:
                return self._passed
            reason = "the dependency answered no"
            try:
                async with asyncio.timeout(PROBE_TIMEOUT_S):
                    passed = await self._probe()
            except Exception as exc:
                passed, reason = False, type(exc).__name__
            if passed and not self._passed:
                log.info("readiness check %s passes again", self._name)
            elif not passed and self._passed:
                log.warning("readiness check %s fails: %s", self._name, reason)
            self._passed = passed
            self._checked_at = time.monotonic()
            return passed


class Readiness:
    """Named probes; ready when all pass. `add` may be called while serving (components starting)."""

    def __init__(self, probes: dict[str, Probe] | None = None) -> None:
        self._probes: dict[str, _CachedProbe] = {}
        for name, probe in (probes or {}).items():
            self.add(name, probe)

    def add(self, name: str, probe: Probe) -> None:
        self._probes[name] = _CachedProbe(name, probe)

    async def check(self) -> dict[str, bool]:
        names = list(self._probes)
        results = await asyncio.gather(*(self._probes[name]() for name in names))
        return dict(zip(names, results, strict=True))


def started(ready: asyncio.Event, task: asyncio.Task[None] | None = None) -> Probe:
    """A probe passing once `ready` is set, as long as `task` (the component) still runs."""

    async def probe() -> bool:
        return ready.is_set() and (task is None or not task.done())

    return probe


def add_ops_routes(app: web.Application, metrics: Metrics, readiness: Readiness) -> None:
    """GET /healthz, /readyz and /metrics on `app` (no authentication: put them behind the network)."""

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        checks = await readiness.check()
        ready = all(checks.values())
        body = {
            "status": "ready" if ready else "not ready",
            "checks": {name: "ok" if passed else "failing" for name, passed in checks.items()},
        }
        return web.json_response(body, status=200 if ready else 503)

    async def scrape(request: web.Request) -> web.Response:
        body = await metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", scrape)


def http_runner(app: web.Application, settings: Settings, *, shutdown_timeout: float) -> web.AppRunner:
    """The runner every syncpipe HTTP server uses, so the connection limits are the same everywhere.

    `http_keepalive_timeout_s` closes idle connections and, because aiohttp's keep-alive timer keeps
    running while a request's headers arrive, also bounds how long a sender may take over them. A
    request line or header line is at most 8190 bytes and a request has at most 128 headers
    (aiohttp's defaults), so the memory a connection holds before its handler runs is bounded too.
    No aiohttp access log: a server that wants a line per request logs it itself, structured.
    What breaks those rules is refused as runtime.http_server says, in the app's REFUSAL shape.
    """
    return HardenedAppRunner(
        app,
        shutdown_timeout=shutdown_timeout,
        keepalive_timeout=settings.http_keepalive_timeout_s,
        access_log=None,
    )


class OpsServer:
    """`async with OpsServer(settings, port, metrics, readiness):` the ops routes on `ops_host:port`.

    Port 0 serves nothing (the process runs without ops endpoints). No access log: scrapes and probes
    every few seconds would drown the log.
    """

    def __init__(self, settings: Settings, port: int, metrics: Metrics, readiness: Readiness) -> None:
        self._settings = settings
        self.port = port
        self._app = web.Application()
        add_ops_routes(self._app, metrics, readiness)
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if self.port == 0:
            return
        runner = http_runner(self._app, self._settings, shutdown_timeout=_OPS_SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._settings.ops_host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("ops endpoints (/metrics, /healthz, /readyz) on http://%s:%d", self._settings.ops_host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> OpsServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


@asynccontextmanager
async def ops_endpoint(
    settings: Settings, port: int, metrics: Metrics, components: dict[str, Probe], *, postgres: bool, kafka: bool
) -> AsyncIterator[Readiness]:
    """An OpsServer for a process without an HTTP port of its own (the worker, the acker).

    Ready when each of `components` passes (see `started`) and, as asked, Postgres at `database_url`
    and the broker at `kafka_bootstrap_servers` answer, over connections of the probes' own.
    """
    readiness = Readiness(components)
    async with AsyncExitStack() as stack:
        if postgres:
            if settings.database_url is None:
                raise ValueError("DATABASE_URL is not set")
            database = PostgresProbe(settings.database_url.get_secret_value())
            stack.push_async_callback(database.close)
            readiness.add("postgres", database)
        if kafka:
            if settings.kafka_bootstrap_servers is None:
                raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set")
            broker = KafkaProbe(settings.kafka_bootstrap_servers)
            stack.push_async_callback(broker.close)
            readiness.add("kafka", broker)
        await stack.enter_async_context(OpsServer(settings, port, metrics, readiness))
        yield readiness
