"""The gateway's HTTP edge: one route per sync call, one for the instance calls (SPEC §9, at the base
path itself: gateway/instance_intake.py), a health check, and the process entry point.

A sync call goes through these steps, in this order, and the first refusal answers it:
interface known → signature headers well-formed, timestamp inside the window (before a byte of the
body is read) → body within its size limit, read as it arrives into the in-flight budget → body a
JSON object → signature → nonce → the call's fields → clientSecret → event stored in Kafka → 000000
with the event id. From the body to the event's records the work is CPU-bound: a large body's is done
in a process of its own (gateway.parsing), so that one large call never stalls the small ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import web

from gateway.answers import answer, refuse_malformed
from gateway.client_secret import ClientSecretChecker
from gateway.errors import GatewayError, GatewayNotConfigured, InvalidRequest, ResultCode, SenderGone
from gateway.instance_directory import InstanceDirectory, PostgresInstanceDirectory
from gateway.instance_intake import InstanceIntake
from gateway.instance_verification import InstanceSignatureVerifier
from gateway.intake import Intake
from gateway.metrics import GatewayMetrics
from gateway.nonces import released_unless_stored
from gateway.parsing import CallParser
from gateway.preparation import EncodedEvent, Preparation
from gateway.publisher import EventPublisher, KafkaEventPublisher
from gateway.request_body import BODY_READ_TIMEOUT_S
from gateway.verification import SignatureVerifier
from runtime import tracing
from runtime.http_server import REFUSAL
from runtime.logs import event_fields
from runtime.openapi import add_openapi_route
from runtime.ops_server import Metrics, Readiness, add_ops_routes, http_runner
from runtime.settings import Settings
from runtime.topics import ensure_topics
from schemas.calls import Interface

log = logging.getLogger(__name__)


def accepted(event_id: str) -> web.Response:
    """answer(ACCEPTED, …) byte for byte, without a JSON encoder: an event id is 32 hexadecimal characters."""
    return web.Response(text=_ACCEPTED_TEMPLATE % event_id, content_type="application/json")


_ACCEPTED_TEMPLATE = '{"resultCode": "000000", "resultMsg": "accepted: stored durably", "eventId": "%s"}'
_INTERFACES = {interface.value: interface for interface in Interface}


class CallIntake:
    """The request handlers, holding the dependencies they were given."""

    def __init__(self, settings: Settings, intake: Intake, verifier: SignatureVerifier, parser: CallParser) -> None:
        self._intake = intake
        self._metrics = intake.metrics
        self._verifier = verifier
        self._parser = parser
        # A full department list of a large enterprise is ~10 MB; every other call is small.
        self._limits = dict.fromkeys(Interface, settings.max_body_bytes)
        self._limits[Interface.ALL_ORG_SYNC] = settings.max_full_sync_bytes

    async def accept_call(self, request: web.Request) -> web.Response:
        name = request.match_info["interface"][:64]  # as sent: only ever logged with repr() or as a JSON field
        with tracing.span("gateway accept", {"syncpipe.interface": name}, server=True):
            return await self._accept(request, name)

    async def _accept(self, request: web.Request, name: str) -> web.Response:
        started = time.perf_counter()
        try:
            event = await self._store(request, name)
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
                event.event_id,
                event.tenant_id,
                extra=event_fields(event.event_id, event.tenant_id, name),
            )
            code, response = ResultCode.ACCEPTED, accepted(event.event_id)
        self._metrics.observe_call(name, code, time.perf_counter() - started)
        return response

    async def _store(self, request: web.Request, name: str) -> EncodedEvent:
        interface = _INTERFACES.get(name)
        if interface is None:
            raise InvalidRequest("interface", f"unknown interface {name!r}")
        headers = self._verifier.check_headers(request.headers)
        async with self._intake.body(request, self._limits[interface]) as body:
            prepared = await self._parser.prepare(interface, body.raw, headers)
            if prepared.key_index is None:  # the body, or its signature, refused
                assert prepared.refusal is not None
                raise prepared.refusal
            body.signature_verified()
            verified = self._verifier.remember(headers, prepared.key_index)
            body.nonce_checked()
            with released_unless_stored(lambda: self._verifier.release(verified)):
                if prepared.refusal is not None:  # its fields or its clientSecret
                    raise prepared.refusal
                assert prepared.event is not None
                await self._publish(prepared.event)
        return prepared.event

    async def _publish(self, event: EncodedEvent) -> None:
        tracing.annotate({"syncpipe.event_id": event.event_id, "syncpipe.tenant_id": event.tenant_id})
        await self._intake.publish(event.records)


def build_app(
    settings: Settings,
    publisher: EventPublisher,
    verifier: SignatureVerifier,
    secret_checker: ClientSecretChecker,
    *,
    parser: CallParser | None = None,
    body_timeout_s: float = BODY_READ_TIMEOUT_S,
    metrics: Metrics | None = None,
    instance_directory: InstanceDirectory | None = None,
) -> web.Application:
    """The HTTP application; connects to nothing, everything it uses is passed in.

    The sync calls are served at `{base}/produceAPI/v2/{interface}`, their bodies parsed by `parser`
    (started by the caller), else all on the event loop with the verifier's keys and `secret_checker`.
    The instance calls are served at `{base}` (settings.gateway_base_path), verified with the instance
    access keys and `verifier`'s window, nonce cache and clock, their bodies held in the sync calls'
    in-flight budget; `instance_directory` answers queryInstance (None: 000005, no database).
    Also serves /healthz, /readyz (the broker reachable), /metrics (of `metrics`, a registry of its
    own when not given) and /openapi.json.
    """
    metrics = metrics if metrics is not None else Metrics()
    if parser is None:
        parser = CallParser.on_the_loop(preparation_of(settings, verifier, secret_checker), settings)
    # One intake for both routes: their bodies are held in one budget (gateway.intake).
    intake = Intake(settings, publisher, body_timeout_s=body_timeout_s, metrics=GatewayMetrics(metrics.registry))
    calls = CallIntake(settings, intake, verifier, parser)
    instances = InstanceIntake(
        intake,
        InstanceSignatureVerifier.beside(verifier, settings.instance_access_key_values()),
        instance_directory,
        max_body_bytes=settings.max_body_bytes,
    )
    base = settings.gateway_base_path.rstrip("/")
    app = web.Application()
    app[REFUSAL] = refuse_malformed
    # Any segment: aiohttp's default pattern leaves out braces, and such a name must get its 000002 too.
    app.router.add_post(base + "/produceAPI/v2/{interface:[^/]+}", calls.accept_call)
    app.router.add_post(base or "/", instances.accept_call)
    if base:
        app.router.add_post(base + "/", instances.accept_call)
    add_ops_routes(app, metrics, Readiness({"kafka": publisher.is_reachable}))
    add_openapi_route(app)
    return app


def preparation_of(settings: Settings, verifier: SignatureVerifier, secret_checker: ClientSecretChecker) -> Preparation:
    return Preparation(verifier.access_keys, secret_checker, settings.max_record_bytes)


def gateway_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """The HTTP server the gateway runs `app` in (the benchmark's ceiling and naive endpoint run in it too).

    In-flight calls get their produce timeout to finish before the server closes. No access log:
    every call already gets one structured line (accepted or refused, with its eventId, tenantId and
    interface); aiohttp's second line per call cost as much CPU as the rest of the HTTP stack.
    """
    return http_runner(app, settings, shutdown_timeout=settings.produce_timeout_s + 1.0)


async def serve_gateway(
    settings: Settings, ready: asyncio.Event | None = None, *, metrics: Metrics | None = None
) -> None:
    """Run the gateway until cancelled: topics ensured, parsing processes and producer started,
    listening on gateway_host:gateway_port, then `ready` set. On cancellation, in-flight calls finish
    and the producer and the parsing processes are stopped before CancelledError propagates. Raises at
    start GatewayNotConfigured if no access key is configured or the private key is unusable, and what
    the broker raised if it cannot be reached.
    Its metrics go to `metrics` (the process's; a registry of its own when not given)."""
    if not settings.access_keys:
        raise GatewayNotConfigured("no access key configured (SYNCPIPE_ACCESS_KEYS): every call would be refused")
    verifier = SignatureVerifier.from_settings(settings)
    secret_checker = ClientSecretChecker.from_settings(settings)
    preparation = preparation_of(settings, verifier, secret_checker)
    if not settings.instance_access_keys:
        log.warning("no instance access key configured (SYNCPIPE_INSTANCE_ACCESS_KEYS): instance calls are refused")
    await ensure_topics(settings)
    async with contextlib.AsyncExitStack() as stack:
        directory = None
        if settings.database_url is not None:
            directory = await PostgresInstanceDirectory.open(
                settings.database_url.get_secret_value(), settings.instance_lookup_timeout_s
            )
            stack.push_async_callback(directory.close)
        else:
            log.warning("DATABASE_URL is not set: queryInstance is answered 000005, newInstance 000004")
        parser = await stack.enter_async_context(
            CallParser(preparation, settings, processes=settings.gateway_parse_processes)
        )
        publisher = await stack.enter_async_context(KafkaEventPublisher(settings))
        app = build_app(
            settings,
            publisher,
            verifier,
            secret_checker,
            parser=parser,
            metrics=metrics,
            instance_directory=directory,
        )
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
