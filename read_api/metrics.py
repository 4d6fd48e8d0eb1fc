"""The read API's metrics: requests by route and status, and how long they take."""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CollectorRegistry, Counter, Histogram

# Paths that match no route share one label value, so a scan of random paths adds no series.
UNMATCHED_ROUTE = "unmatched"
# Reads are one snapshot of a few indexed queries; the statement timeout (10 s) is the ceiling.
_REQUEST_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Requests of the read API, one line each (DEBUG); `--log-level DEBUG` shows them.
request_log = logging.getLogger("read_api.requests")


class ApiMetrics:
    """Registered on `registry` when created; one per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "syncpipe_api_requests",
            "Read API requests answered, by route (its template), method and HTTP status.",
            ["route", "method", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "syncpipe_api_request_duration_seconds",
            "Time to answer a read API request, by route.",
            ["route"],
            buckets=_REQUEST_BUCKETS_S,
            registry=registry,
        )

    def middleware(self) -> Middleware:
        """Outermost middleware: sees every answer, the error answers of the inner middlewares included."""

        @web.middleware
        async def measure(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = time.perf_counter()
            status = 500  # what aiohttp answers if the handler raises past every middleware
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as error:
                status = error.status
                raise
            finally:
                route = _route_label(request)
                elapsed = time.perf_counter() - started
                self.requests.labels(route, request.method if route != UNMATCHED_ROUTE else "any", str(status)).inc()
                self.request_seconds.labels(route).observe(elapsed)
                # One structured line per request, at DEBUG: the simulator's checks alone make thousands.
                request_log.debug(
                    "%s %s %d",
                    request.method,
                    route,
                    status,
                    extra={"route": route, "status": status, "duration_ms": round(elapsed * 1000, 3)},
                )

        return measure


def _route_label(request: web.Request) -> str:
    info = request.match_info
    if info.http_exception is not None or info.route.resource is None:
        return UNMATCHED_ROUTE
    return info.route.resource.canonical
