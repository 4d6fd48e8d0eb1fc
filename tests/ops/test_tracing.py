"""Tracing: one call's spans, from the gateway through Kafka and the worker to its ack, in one trace;
nothing at all when the OTEL_* variables do not ask for it."""

from __future__ import annotations

import json
import logging
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import aiohttp
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr

from gateway.app import serve_gateway
from runtime import tracing
from runtime.logs import JsonFormatter
from runtime.settings import Settings
from schemas.envelope import EventEnvelope, encode_event
from syncpipe.embedded.process import free_port
from tests.gateway.platform import sample_body, signed
from tests.running import running
from tests.workers.acks.flaky_platform import FlakyPlatform
from tests.workers.acks.running import wait_until_all_sent
from tests.workers.pipeline import wait_for_events
from workers.acks.service import serve_acker
from workers.applier.service import serve_worker


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_tracer(provider.get_tracer("syncpipe-test"))
    try:
        yield exporter
    finally:
        tracing.use_tracer(None)


@pytest.mark.parametrize(
    ("environment", "requested"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_only_the_standard_variables_turn_it_on(environment: dict[str, str], requested: bool) -> None:
    assert tracing.tracing_requested(environment) is requested


def test_off_a_record_carries_no_trace_header() -> None:
    assert not tracing.enabled()
    with tracing.span("nothing"):
        assert tracing.traceparent_headers() == []


def test_every_part_of_a_large_call_carries_the_trace(exported: InMemorySpanExporter) -> None:
    body = sample_body("allOrgSync", "t-trace-parts")
    from schemas.calls import Interface, parse_call

    envelope = EventEnvelope.from_call(parse_call(Interface.ALL_ORG_SYNC, body), accepted_at=datetime.now(UTC))
    with tracing.span("gateway accept"):
        records = encode_event(envelope, 200, tracing.traceparent_headers())
    assert len(records) > 1
    parents = {tuple((tracing.traceparent_of(record.headers) or "").split("-")[1:3]) for record in records}
    [span] = exported.get_finished_spans()
    assert parents == {(f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}")}


@pytest.fixture
def pipeline(settings: Settings, database_url: str, platform: FlakyPlatform) -> Settings:
    return settings.model_copy(
        update={
            "database_url": SecretStr(database_url),
            "api_token": SecretStr(secrets.token_urlsafe(16)),
            "gateway_port": free_port(),
            "ack_url": platform.url,
        }
    )


@pytest.mark.integration
async def test_one_call_is_one_trace_from_gateway_to_ack(
    exported: InMemorySpanExporter,
    pipeline: Settings,
    database_url: str,
    access_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tenant = f"t-trace-{uuid.uuid4().hex[:8]}"
    raw, headers = signed(access_key, sample_body("tenantSync", tenant))
    async with (
        running(lambda ready, stop: serve_gateway(pipeline, ready), graceful=False),
        running(lambda ready, stop: serve_worker(pipeline, ready, stop), graceful=True),
        running(lambda ready, stop: serve_acker(pipeline, ready, stop), graceful=True),
        aiohttp.ClientSession() as http,
    ):
        url = f"http://127.0.0.1:{pipeline.gateway_port}/produceAPI/v2/tenantSync"
        async with http.post(url, data=raw, headers=headers) as response:
            answer = await response.json()
        assert answer["resultCode"] == "000000"
        await wait_for_events(database_url, [answer["eventId"]])
        await wait_until_all_sent(database_url)

    spans = exported.get_finished_spans()
    ours = [span for span in spans if (span.attributes or {}).get("syncpipe.event_id") == answer["eventId"]]
    by_name = {span.name: span for span in ours}
    assert set(by_name) == {"gateway accept", "worker applied", "acker post ack"}
    gateway, worker, acker = by_name["gateway accept"], by_name["worker applied"], by_name["acker post ack"]
    assert {span.context.trace_id for span in ours} == {gateway.context.trace_id}
    assert _parent(worker) == _parent(acker) == gateway.context.span_id
    [batch] = [span for span in spans if span.name == "worker apply batch" and _links_to(span, gateway)]
    assert any(link.context.span_id == batch.context.span_id for link in worker.links)
    # The log lines about the call, at the gateway and at the acker, name the trace it belongs to.
    trace_id = f"{gateway.context.trace_id:032x}"
    traced = [r for r in caplog.records if getattr(r, "traceId", None) == trace_id]
    assert {"gateway.app", "workers.acks.sender"} <= {record.name for record in traced}
    # ... as fields of the JSON line a collector reads; and no server wrote an aiohttp access line.
    line = json.loads(JsonFormatter().format(next(r for r in traced if r.name == "gateway.app")))
    assert (line["traceId"], line["spanId"]) == (trace_id, f"{gateway.context.span_id:016x}")
    assert not [record for record in caplog.records if record.name.startswith("aiohttp.access")]


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def _links_to(span: ReadableSpan, target: ReadableSpan) -> bool:
    return any(link.context.span_id == target.context.span_id for link in span.links)
