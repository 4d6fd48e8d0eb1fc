"""GET /v1/overview: what finished in the last minutes (Postgres), the backlogs, and what this process measures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.metrics import GatewayMetrics
from read_api import build_api_app
from read_api.console.routes import OVERVIEW_BUCKET_S, OVERVIEW_WINDOW_S
from read_api.console.views import CALLS_ELSEWHERE, LAG_ELSEWHERE
from runtime.ops_server import Metrics
from tests.read_api.conftest import ReadApi
from tests.read_api.console.seed import apply_calls, call, dead_letter, record_of
from workers.applier.metrics import WorkerMetrics
from workers.retention.maintenance import run_retention
from workers.retention.prune import RetentionPolicy


async def test_an_empty_pipeline_reads_zero_and_says_what_this_process_cannot_know(api: ReadApi) -> None:
    status, body = await api.get("/v1/overview")
    assert status == 200
    finished = body["finished"]
    assert finished["bucketSeconds"] == OVERVIEW_BUCKET_S
    assert len(finished["buckets"]) == OVERVIEW_WINDOW_S // OVERVIEW_BUCKET_S
    assert finished["byInterface"] == finished["byStatus"] == finished["perSecondByInterface"] == {}
    assert body["acks"] == {"pending": 0, "retrying": 0, "oldestPendingSeconds": None}
    assert body["deadLetters"] == {"waiting": 0, "oldestWaitingSeconds": None}
    assert body["uploadsWaiting"] == 0
    # A read API on its own runs no worker and no gateway: unknown, not zero.
    assert body["consumerLag"] is None
    assert body["gatewayCalls"] is None
    assert body["notes"] == [LAG_ELSEWHERE, CALLS_ELSEWHERE]


async def test_finished_events_are_counted_by_interface_and_status_in_the_newest_bar(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    await apply_calls(
        db,
        [
            call(tenant_id, "tenantSync", 1, flag=1, name="Acme"),
            call(tenant_id, "singleOrgSync", 2, flag=1, orgCode="A", orgName="研发部"),
            call(tenant_id, "singleOrgSync", 3, flag=1, orgCode="B", orgName="财务部"),
            call(tenant_id, "singleOrgSync", 4, flag=2, orgCode="B", orgName="x", testFlag=1),
        ],
    )
    await dead_letter(db, record_of(call(tenant_id, "singleOrgSync", 5, flag=1, orgCode="C")), "broken")

    _, body = await api.get("/v1/overview")
    finished = body["finished"]
    assert {name: sum(bars) for name, bars in finished["byInterface"].items()} == {"singleOrgSync": 4, "tenantSync": 1}
    assert finished["byInterface"]["singleOrgSync"][-1] + finished["byInterface"]["singleOrgSync"][-2] == 4
    assert finished["byStatus"] == {"applied": 3, "test": 1, "dead_lettered": 1}
    assert finished["perSecondByInterface"] == {"singleOrgSync": round(4 / 60, 3), "tenantSync": round(1 / 60, 3)}
    assert body["acks"]["pending"] == 5  # one owed per finished event, none sent (no acker here)
    assert body["acks"]["oldestPendingSeconds"] is not None
    assert body["deadLetters"]["waiting"] == 1


async def test_acks_that_failed_count_as_retrying_and_sent_ones_leave_the_backlog(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    await apply_calls(db, [call(tenant_id, "singleOrgSync", n, flag=1, orgCode=f"D{n}") for n in range(3)])
    ack_ids = [row["ack_id"] for row in await db.fetch("SELECT ack_id FROM ack_outbox ORDER BY ack_id")]
    await db.execute("UPDATE ack_outbox SET sent_at = now() WHERE ack_id = $1", ack_ids[0])
    await db.execute("UPDATE ack_outbox SET attempts = 2, last_error = 'HTTP 503' WHERE ack_id = $1", ack_ids[1])
    _, body = await api.get("/v1/overview")
    assert (body["acks"]["pending"], body["acks"]["retrying"]) == (2, 1)


@pytest.fixture
def process_metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def api_in_a_pipeline_process(
    pool: asyncpg.Pool, api_token: str, process_metrics: Metrics
) -> AsyncIterator[ReadApi]:
    """The API as `syncpipe up` runs it: one registry for the gateway, the worker and the API."""
    async with TestClient(TestServer(build_api_app(pool, api_token, metrics=process_metrics))) as client:
        yield ReadApi(client, api_token)


async def test_in_a_process_with_a_worker_and_a_gateway_their_lag_and_calls_are_shown(
    api_in_a_pipeline_process: ReadApi, process_metrics: Metrics
) -> None:
    worker = WorkerMetrics(process_metrics)
    gateway = GatewayMetrics(process_metrics.registry)
    worker.lag.labels("syncpipe.events", "3").set(7)
    worker.lag.labels("syncpipe.events", "0").set(0)
    gateway.calls.labels("authSync", "000000").inc(5)
    gateway.calls.labels("authSync", "000001").inc(2)
    gateway.calls.labels("tenantSync", "000000").inc()

    _, body = await api_in_a_pipeline_process.get("/v1/overview")
    assert body["consumerLag"] == [
        {"topic": "syncpipe.events", "partition": 0, "lag": 0},
        {"topic": "syncpipe.events", "partition": 3, "lag": 7},
    ]
    calls = body["gatewayCalls"]
    assert (calls.pop("authSync"), calls.pop("tenantSync")) == (7, 1)  # every result code counts
    assert set(calls.values()) == {0}  # the gateway's other interfaces, counted from zero
    assert body["notes"] == []


async def test_a_worker_without_partitions_reports_an_empty_lag_not_an_unknown_one(
    api_in_a_pipeline_process: ReadApi, process_metrics: Metrics
) -> None:
    WorkerMetrics(process_metrics)
    _, body = await api_in_a_pipeline_process.get("/v1/overview")
    lag: Any = body["consumerLag"]
    assert lag == []


async def test_the_oldest_event_kept_and_the_latest_prunes_horizons_are_shown(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    _, before = await api.get("/v1/overview")
    assert before["retention"] == {"oldestEventAt": None, "oldestEventAgeSeconds": None, "horizons": None}
    await apply_calls(db, [call(tenant_id, "singleOrgSync", 1, flag=1, orgCode="A", orgName="a")])
    oldest = await db.fetchval("SELECT min(finished_at) FROM events")
    policy = RetentionPolicy(events=timedelta(days=30), sent_acks=timedelta(hours=1), dead_letters=timedelta(days=7))
    run = await run_retention(db, policy)
    assert run is not None

    _, body = await api.get("/v1/overview")

    retention = body["retention"]
    assert retention["oldestEventAt"] == oldest.isoformat()
    assert retention["oldestEventAgeSeconds"] >= 0
    events = retention["horizons"]["events"]
    assert events["keptSeconds"] == 30 * 86400
    assert events["horizon"] == (run.prune.now - timedelta(days=30)).isoformat()
    assert events["prunedAt"] == run.prune.now.isoformat()
    assert set(retention["horizons"]) == {"events", "sent_acks", "dead_letters", "uploads"}
