"""Metrics under load: calls through the real gateway, worker, acker and read API, on the real broker and
Postgres, and every metric the operators alert on is served and moves as the work happens."""

from __future__ import annotations

import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import SecretStr

from gateway.app import serve_gateway
from read_api import serve_api
from runtime.ops_server import Metrics, ops_endpoint
from runtime.settings import Settings
from syncpipe.embedded.process import free_port
from tests.gateway.platform import sample_body, signed
from tests.ops.scrape import Scrape, scrape
from tests.running import running
from tests.workers.acks.flaky_platform import FlakyPlatform
from tests.workers.acks.running import wait_until_all_sent
from tests.workers.acks.test_acker_integration import outbox_shows, publish_invalid_envelope
from tests.workers.pipeline import wait_for_events
from workers.acks.metrics import AckerMetrics
from workers.acks.service import serve_acker
from workers.applier.metrics import WorkerMetrics
from workers.applier.service import serve_worker

pytestmark = pytest.mark.integration


@pytest.fixture
def pipeline(settings: Settings, database_url: str, platform: FlakyPlatform) -> Settings:
    return settings.model_copy(
        update={
            "database_url": SecretStr(database_url),
            "api_token": SecretStr(secrets.token_urlsafe(16)),
            "gateway_port": free_port(),
            "api_port": free_port(),
            "worker_ops_port": free_port(),
            "ack_url": platform.url,
            "ack_timeout_s": 0.5,
            "ack_retry_first_s": 0.05,
            "ack_retry_cap_s": 0.2,
        }
    )


@contextlib.asynccontextmanager
async def whole_pipeline(settings: Settings, metrics: Metrics) -> AsyncIterator[None]:
    """What `syncpipe up` runs: four components sharing one registry, and the ops port."""
    async with (
        running(lambda ready, stop: serve_gateway(settings, ready, metrics=metrics), graceful=False),
        running(lambda ready, stop: serve_api(settings, ready, metrics=metrics), graceful=False),
        running(lambda ready, stop: serve_worker(settings, ready, stop, metrics=WorkerMetrics(metrics)), graceful=True),
        running(lambda ready, stop: serve_acker(settings, ready, stop, metrics=AckerMetrics(metrics)), graceful=True),
        ops_endpoint(settings, settings.worker_ops_port, metrics, {}, postgres=True, kafka=True),
    ):
        yield


async def test_every_metric_moves_under_load(
    pipeline: Settings, platform: FlakyPlatform, access_key: str, database_url: str
) -> None:
    tenant = f"t-metrics-{uuid.uuid4().hex[:8]}"
    calls = [
        ("tenantSync", sample_body("tenantSync", tenant)),
        ("allOrgSync", sample_body("allOrgSync", tenant)),
        *[
            ("singleOrgSync", sample_body("singleOrgSync", tenant, orgCode=f"d{n}", timeStamp=f"2026010509300{n}123"))
            for n in range(5)
        ],
    ]
    metrics = Metrics()  # a registry of its own, as each process has
    gateway_url = f"http://127.0.0.1:{pipeline.gateway_port}"
    api_url = f"http://127.0.0.1:{pipeline.api_port}"
    ops_url = f"http://127.0.0.1:{pipeline.worker_ops_port}"
    platform.mode = "fail"  # acks pile up until the platform recovers
    async with whole_pipeline(pipeline, metrics), aiohttp.ClientSession() as http:
        before = await scrape(http, f"{ops_url}/metrics")
        assert before.value("syncpipe_gateway_calls_total", interface="tenantSync", result_code="000000") == 0
        assert before.value("syncpipe_worker_dead_letters_total") == 0

        event_ids = []
        for interface, body in calls:
            raw, headers = signed(access_key, body)
            async with http.post(f"{gateway_url}/produceAPI/v2/{interface}", data=raw, headers=headers) as response:
                status, answer = response.status, await response.json()
            assert (status, answer["resultCode"]) == (200, "000000"), answer
            event_ids.append(answer["eventId"])
        raw, headers = signed(access_key, calls[0][1])
        async with http.post(f"{gateway_url}/produceAPI/v2/tenantSync", data=raw, headers=headers) as response:
            event_ids.append((await response.json())["eventId"])  # the same call again: a duplicate
        headers["x-sign"] = "0" * 64
        async with http.post(f"{gateway_url}/produceAPI/v2/tenantSync", data=raw, headers=headers) as response:
            assert (await response.json())["resultCode"] == "000001"
        async with http.post(f"{gateway_url}/produceAPI/v2/noSuchSync", data=b"{}") as response:
            assert (await response.json())["resultCode"] == "000002"
        event_ids.append(await publish_invalid_envelope(pipeline, tenant))  # dead-lettered by the worker

        await wait_for_events(database_url, event_ids)
        await outbox_shows(database_url, "bool_or(last_error IS NOT NULL)")
        owed = await scrape(http, f"{ops_url}/metrics")
        platform.mode = "ok"
        await wait_until_all_sent(database_url)

        bearer = {"Authorization": f"Bearer {pipeline.api_token.get_secret_value()}"}  # type: ignore[union-attr]
        async with http.get(f"{api_url}/v1/tenants/{tenant}", headers=bearer) as response:
            assert response.status == 200
        async with http.get(f"{api_url}/v1/events/nope", headers=bearer) as response:
            assert response.status == 404
        async with http.get(f"{api_url}/v1/tenants/{tenant}") as response:
            assert response.status == 401
        async with http.get(f"{api_url}/no/such/route", headers=bearer) as response:
            assert response.status == 404

        after = await scrape(http, f"{ops_url}/metrics")
        from_gateway = await scrape(http, f"{gateway_url}/metrics")
        from_api = await scrape(http, f"{api_url}/metrics")

    _check_gateway(after, accepted=len(calls) + 1)
    _check_worker(after, applied=len(calls))
    _check_acker(owed, after, acks=len(event_ids))
    _check_api(after)
    _check_retention(after)
    # One process, one registry: whichever port is scraped serves it all.
    assert set(from_gateway.families) == set(after.families) == set(from_api.families)


def _check_gateway(after: Scrape, *, accepted: int) -> None:
    assert after.total("syncpipe_gateway_calls_total", result_code="000000") == accepted
    assert after.value("syncpipe_gateway_calls_total", interface="tenantSync", result_code="000000") == 2
    assert after.value("syncpipe_gateway_calls_total", interface="tenantSync", result_code="000001") == 1
    assert after.value("syncpipe_gateway_calls_total", interface="unknown", result_code="000002") == 1
    assert after.total("syncpipe_gateway_request_duration_seconds_count") == accepted + 2
    assert after.value("syncpipe_gateway_produce_duration_seconds_count", outcome="stored") == accepted
    assert after.value("syncpipe_gateway_produce_duration_seconds_count", outcome="not_stored") == 0


def _check_worker(after: Scrape, *, applied: int) -> None:
    assert after.total("syncpipe_worker_events_total", status="applied") == applied
    assert after.value("syncpipe_worker_events_total", status="duplicate", interface="tenantSync") == 1
    assert after.value("syncpipe_worker_events_total", status="dead_lettered", interface="singleOrgSync") == 1
    assert after.value("syncpipe_worker_dead_letters_total") == 1
    assert after.value("syncpipe_worker_batch_duration_seconds_count", outcome="committed") >= 1
    assert after.value("syncpipe_worker_batch_records_sum") >= applied + 2
    assert after.value("syncpipe_worker_event_delay_seconds_count") == applied + 1  # not the duplicate
    lags = after.series("syncpipe_worker_consumer_lag")
    assert lags, "every assigned partition reports its lag"
    assert after.total("syncpipe_worker_consumer_lag") == 0  # all caught up


def _check_acker(owed: Scrape, after: Scrape, *, acks: int) -> None:
    assert owed.value("syncpipe_ack_pending") == acks
    assert owed.value("syncpipe_ack_retrying") >= 1
    assert owed.value("syncpipe_ack_oldest_pending_age_seconds") > 0
    assert owed.value("syncpipe_ack_attempts_failed_total") >= 1
    assert after.value("syncpipe_ack_sent_total") == acks
    assert after.value("syncpipe_ack_pending") == 0
    assert after.value("syncpipe_ack_oldest_pending_age_seconds") == 0
    assert after.value("syncpipe_ack_delivery_duration_seconds_count", outcome="sent") == acks


def _check_retention(after: Scrape) -> None:
    """The worker ran retention at its start (docs/retention.md): its horizons and the oldest event kept."""
    assert after.value("syncpipe_retention_runs_total", outcome="done") >= 1
    assert after.value("syncpipe_retention_runs_total", outcome="failed") == 0
    now = time.time()
    horizon = after.value("syncpipe_retention_horizon_timestamp_seconds", history="events")
    assert abs(horizon - (now - 30 * 86400)) < 3600  # SYNCPIPE_RETENTION_EVENTS_DAYS, default 30
    assert 0 < after.value("syncpipe_retention_last_success_timestamp_seconds") <= now


def _check_api(after: Scrape) -> None:
    route = "/v1/tenants/{tenantId}"
    assert after.value("syncpipe_api_requests_total", route=route, method="GET", status="200") == 1
    assert after.value("syncpipe_api_requests_total", route=route, method="GET", status="401") == 1
    assert after.value("syncpipe_api_requests_total", route="/v1/events/{eventId}", method="GET", status="404") == 1
    assert after.value("syncpipe_api_requests_total", route="unmatched", method="any", status="404") == 1
    assert after.value("syncpipe_api_request_duration_seconds_count", route=route) == 2
