"""The gateway's HTTP edge: one route per sync call, a health check, and the process entry point.

A call goes through these steps, in this order, and the first refusal answers it:
interface known → body within its size limit → body a JSON object → signature headers, signature,
window, nonce → the call's fields → clientSecret → event stored in Kafka → 000000 with the event id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from aiohttp import web

from gateway.admission import InFlightBudget
from gateway.client_secret import ClientSecretChecker
from gateway.errors import GatewayError, InvalidRequest, ResultCode, SenderGone
from gateway.metrics import GatewayMetrics
from gateway.publisher import EventPublisher, KafkaEventPublisher
from gateway.request_body import BODY_READ_TIMEOUT_S, decode_json_object, read_body
from gateway.verification import SignatureVerifier
from runtime.http_server import REFUSAL
from runtime.logs import event_fields
from runtime.openapi import add_openapi_route
from runtime.ops_server import Metrics, Readiness, add_ops_routes, http_runner
from runtime.settings import Settings
from runtime.topics import ensure_topics
from schemas.calls import Interface, parse_call
from schemas.envelope import EventEnvelope
from schemas.exceptions import InvalidCall

log = logging.getLogger(__name__)

# The one place a resultCode becomes an HTTP status (SPEC §3).
HTTP_STATUS: dict[ResultCode, int] = {
    ResultCode.ACCEPTED: 200,
    ResultCode.SIGNATURE_REJECTED: 200,
    ResultCode.INVALID_REQUEST: 200,
    ResultCode.NOT_STORED: 503,
    ResultCode.CLIENT_SECRET_UNDECRYPTABLE: 200,
}


def answer(code: ResultCode, message: str, event_id: str | None = None) -> web.Response:
    body = {"resultCode": code.value, "resultMsg": message}
    if event_id is not None:
        body["eventId"] = event_id
    return web.json_response(body, status=HTTP_STATUS[code])


def refuse_malformed(status: int, reason: str) -> web.Response:
    """The answer to a request refused before its route (runtime.http_server): the SPEC §3 shape, 000002
    with the refusal's HTTP status (400: malformed HTTP), or 000005 / 503 where an error was ours."""
    if status >= 500:
        return answer(ResultCode.NOT_STORED, "internal error: nothing was stored; try again")
    body = {"resultCode": ResultCode.INVALID_REQUEST.value, "resultMsg": f"request: {reason}"}
    return web.json_response(body, status=status)


def accepted(event_id: str) -> web.Response:
    """answer(ACCEPTED, …) byte for byte, without a JSON encoder: an event id is 32 hexadecimal characters."""
    return web.Response(text=_ACCEPTED_TEMPLATE % event_id, content_type="application/json")


_ACCEPTED_TEMPLATE = '{"resultCode": "000000", "resultMsg": "accepted: stored durably", "eventId": "%s"}'
_INTERFACES = {interface.value: interface for interface in Interface}


class CallIntake:
    """The request handlers, holding the dependencies they were given."""

    def __init__(
        self,
        settings: Settings,
        publisher: EventPublisher,
        verifier: SignatureVerifier,
        secret_checker: ClientSecretChecker,
        body_timeout_s: float,
        *,
        metrics: GatewayMetrics,
    ) -> None:
        self._publisher = publisher
        self._verifier = verifier
        self._secret_checker = secret_checker
        self._body_timeout_s = body_timeout_s
        self._metrics = metrics
        self._budget = InFlightBudget(settings.gateway_max_in_flight_bytes, wait_s=settings.produce_timeout_s)
        # A full department list of a large enterprise is ~10 MB; every other call is small.
        self._limits = dict.fromkeys(Interface, settings.max_body_bytes)
        self._limits[Interface.ALL_ORG_SYNC] = settings.max_full_sync_bytes

    async def accept_call(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        name = request.match_info["interface"][:64]  # as sent: only ever logged with repr() or as a JSON field
        try:
            envelope = await self._store(request, name)
        except SenderGone:
            # Nobody to answer, nothing stored: neither a refusal nor our failure (calls_abandoned_total).
            log.info(
                "%r from %s: the sender left before its body arrived",
                name,
                request.remote,
                extra=event_fields(interface=name),
            )
            self._metrics.observe_abandoned(name)
            return answer(ResultCode.INVALID_REQUEST, "body: the connection closed before it arrived")
        except GatewayError as error:
            # Refused for its content: the sender's business (INFO). Not stored: ours (WARNING).
            code, response = error.result_code, answer(error.result_code, error.message)
            log.log(
                logging.WARNING if error.retriable else logging.INFO,
                "refused %r from %s: %s %s",
                name,
                request.remote,
                code.value,
                error.message,
                extra=event_fields(interface=name),
            )
        except Exception:
            # The traceback goes to the log only; it holds no request headers or body values.
            log.exception("unexpected error handling %r; answering 000005", name, extra=event_fields(interface=name))
            code = ResultCode.NOT_STORED
            response = answer(code, "internal error: nothing was stored; try again")
        else:
            log.info(
                "accepted %s event %s for tenant %r",
                name,
                envelope.eventId,
                envelope.tenantId,
                extra=event_fields(envelope.eventId, envelope.tenantId, name),
            )
            code, response = ResultCode.ACCEPTED, accepted(envelope.eventId)
        self._metrics.observe_call(name, code, time.perf_counter() - started)
        return response

    async def _store(self, request: web.Request, name: str) -> EventEnvelope:
        interface = _INTERFACES.get(name)
        if interface is None:
            raise InvalidRequest("interface", f"unknown interface {name!r}")
        limit = self._limits[interface]
        async with self._budget.reserve(min(request.content_length or limit, limit)):
            raw = await read_body(request, limit, self._body_timeout_s)
            body = decode_json_object(raw)
            verified = self._verifier.verify(request.headers, body)
            try:
                try:
                    call = parse_call(interface, body)
                except InvalidCall as exc:
                    raise InvalidRequest(exc.field, exc.reason) from None
                self._secret_checker.check(call)
                envelope = EventEnvelope.from_call(call, accepted_at=datetime.now(UTC))
                await self._publish(envelope)
            except GatewayError as error:
                if error.retriable:
                    self._verifier.release(verified)
                raise
            except BaseException:
                # Not stored (or not known to be): the platform may send the identical request again.
                self._verifier.release(verified)
                raise
        return envelope

    async def _publish(self, envelope: EventEnvelope) -> None:
        started = time.perf_counter()
        try:
            await self._publisher.publish(envelope)
        except BaseException:
            self._metrics.observe_produce(stored=False, seconds=time.perf_counter() - started)
            raise
        self._metrics.observe_produce(stored=True, seconds=time.perf_counter() - started)


def build_app(
    settings: Settings,
    publisher: EventPublisher,
    verifier: SignatureVerifier,
    secret_checker: ClientSecretChecker,
    *,
    body_timeout_s: float = BODY_READ_TIMEOUT_S,
    metrics: Metrics | None = None,
) -> web.Application:
    """The HTTP application; connects to nothing, everything it uses is passed in.

    Also serves /healthz, /readyz (the broker reachable), /metrics (of `metrics`, a registry of its
    own when not given) and /openapi.json.
    """
    metrics = metrics if metrics is not None else Metrics()
    gateway_metrics = GatewayMetrics(metrics.registry)
    intake = CallIntake(settings, publisher, verifier, secret_checker, body_timeout_s, metrics=gateway_metrics)
    app = web.Application()
    app[REFUSAL] = refuse_malformed
    # Any segment: aiohttp's default pattern leaves out braces, and such a name must get its 000002 too.
    app.router.add_post("/produceAPI/v2/{interface:[^/]+}", intake.accept_call)
    add_ops_routes(app, metrics, Readiness({"kafka": publisher.is_reachable}))
    add_openapi_route(app)
    return app


def gateway_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """The HTTP server the gateway runs `app` in (the benchmark's ceiling and naive endpoint run in it too).

    In-flight calls get their produce timeout to finish before the server closes. No access log:
    every call already gets one structured line (accepted or refused, with its eventId, tenantId and
    interface); aiohttp's second line per call cost as much CPU as the rest of the HTTP stack.
    """
    return http_runner(app, settings, shutdown_timeout=settings.produce_timeout_s + 1.0, access_log=False)


async def serve_gateway(
    settings: Settings, ready: asyncio.Event | None = None, *, metrics: Metrics | None = None
) -> None:
    """Run the gateway until cancelled: topics ensured, producer started, listening on
    gateway_host:gateway_port, then `ready` set. On cancellation, in-flight calls finish and the
    producer is stopped before CancelledError propagates. Raises at start if no access key is
    configured, the private key is unusable or the broker cannot be reached. Its metrics go to
    `metrics` (the process's; a registry of its own when not given)."""
    if not settings.access_keys:
        raise ValueError("no access key configured (SYNCPIPE_ACCESS_KEYS): every call would be refused")
    verifier = SignatureVerifier.from_settings(settings)
    secret_checker = ClientSecretChecker.from_settings(settings)
    await ensure_topics(settings)
    async with KafkaEventPublisher(settings) as publisher:
        app = build_app(settings, publisher, verifier, secret_checker, metrics=metrics)
        runner = gateway_runner(app, settings)
        await runner.setup()
        try:
            site = web.TCPSite(runner, settings.gateway_host, settings.gateway_port)
            await site.start()
            log.info("gateway listening on %s:%d", settings.gateway_host, settings.gateway_port)
            if ready is not None:
                ready.set()
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
