"""OpenTelemetry tracing, off unless the standard `OTEL_*` variables ask for it.

One call is one trace: the gateway's span (its context travels as a W3C `traceparent` header on every
Kafka record of the call), the worker's span for the event (a child of that context, linked to the
span of the batch that applied it) and the acker's span for each POST of its ack (a child of the same
context, stored with the outbox row). JSON log lines written inside a span carry `traceId` and `spanId`.

Off, every entry point returns at its first test: no span, no header, no context lookups.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
_propagator = TraceContextTextMapPropagator()
_tracer: Tracer | None = None
# What every entry point answers when off: one reusable no-op context, no allocation per call.
_NO_SPAN: nullcontext[None] = nullcontext()


def tracing_requested(environ: Mapping[str, str]) -> bool:
    """What the OpenTelemetry SDK's own variables say: an exporter named, or an OTLP endpoint given."""
    if environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure_tracing(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Start exporting spans if the environment asks for it (once per process); True if it does."""
    environ = os.environ if environ is None else environ
    if not tracing_requested(environ):
        return False
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    exporter: SpanExporter
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "console":
        exporter = ConsoleSpanExporter()
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME", f"syncpipe-{service}")})
    provider = TracerProvider(resource=resource.merge(OTELResourceDetector().detect()))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    use_tracer(provider.get_tracer("syncpipe"))
    return True


def use_tracer(tracer: Tracer | None) -> None:
    """Trace with `tracer` from now on (None: off); tests pass one on an in-memory exporter."""
    global _tracer  # noqa: PLW0603 - one switch per process, read on the hot path without a lookup
    _tracer = tracer
    if tracer is not None:
        _add_ids_to_log_records()


def enabled() -> bool:
    return _tracer is not None


def span(name: str, attributes: Mapping[str, Any] | None = None, *, server: bool = False) -> Any:
    """`with span(...)`: a span of the current context when tracing is on, else nothing at all."""
    if _tracer is None:
        return _NO_SPAN
    kind = SpanKind.SERVER if server else SpanKind.INTERNAL
    return _tracer.start_as_current_span(name, kind=kind, attributes=dict(attributes or {}))


def annotate(attributes: Mapping[str, Any]) -> None:
    """Add what became known (the event id) to the current span, if one is recording."""
    if _tracer is not None:
        trace.get_current_span().set_attributes(dict(attributes))


def traceparent_headers() -> list[tuple[str, bytes]]:
    """The current span's context as a Kafka record header; none when off or outside a span."""
    if _tracer is None:
        return []
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    value = carrier.get(TRACEPARENT)
    return [(TRACEPARENT, value.encode())] if value else []


def traceparent_of(headers: Sequence[tuple[str, bytes]]) -> str | None:
    """The `traceparent` a record carries, if any (read whether tracing is on or not: it is one scan)."""
    for name, value in headers:
        if name == TRACEPARENT:
            return value.decode("ascii", errors="replace")
    return None


@contextmanager
def batch_span(name: str, traceparents: Sequence[str | None], attributes: Mapping[str, Any]) -> Iterator[Any]:
    """A span of its own for a batch, linked to the calls it holds (the SDK keeps up to 128 links)."""
    if _tracer is None:
        yield None
        return
    links = [Link(context) for context in map(_span_context, filter(None, traceparents)) if context is not None]
    with _tracer.start_as_current_span(name, links=links, attributes=dict(attributes)) as current:
        yield current


def child_span(
    name: str, traceparent: str | None, attributes: Mapping[str, Any], *, kind: SpanKind = SpanKind.INTERNAL
) -> Any:
    """`with child_span(...)`: a span in the trace of `traceparent` (the call's), linked to the current span."""
    if _tracer is None or traceparent is None:
        return _NO_SPAN
    parent = _propagator.extract({TRACEPARENT: traceparent})
    current = trace.get_current_span().get_span_context()
    links = [Link(current)] if current.is_valid else []
    return _tracer.start_as_current_span(name, context=parent, kind=kind, links=links, attributes=dict(attributes))


def _span_context(traceparent: str) -> trace.SpanContext | None:
    context = trace.get_current_span(_propagator.extract({TRACEPARENT: traceparent})).get_span_context()
    return context if context.is_valid else None


_previous_factory = logging.getLogRecordFactory()


def _add_ids_to_log_records() -> None:
    """Every log record made inside a recording span gets `traceId` and `spanId` (hex), as extra fields."""
    if getattr(logging.getLogRecordFactory(), "_adds_trace_ids", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = _previous_factory(*args, **kwargs)
        context = trace.get_current_span(otel_context.get_current()).get_span_context()
        if context.is_valid:
            record.traceId = format(context.trace_id, "032x")
            record.spanId = format(context.span_id, "016x")
        return record

    factory._adds_trace_ids = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
