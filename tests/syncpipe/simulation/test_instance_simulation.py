"""The order lifecycle end to end (SPEC §9): `simulate` plays 200 instances against the whole pipeline —
gateway, worker, acker and read API in this event loop, on the session's embedded broker and a Postgres
database of its own — and every instance must converge to its model, every answer keep the contract.

What a run covers: calls before their newInstance, debug calls of every activity, a debug newInstance
that must open nothing, newInstance answered 000004 with the instance derived from its order line, a
queryInstance before ready (000004), the merchant's application giving its appInfo through the read
API, queryInstance polled until 000000 with that appInfo, the newInstance re-sent (000000, the same
instance, never a second one), then renewals, cancelled renewals, plan changes, freezes, upgrades and
releases shuffled across instances, re-sent (signed again, later) and signed out of arrival order, and
late freezes of released instances. Every accepted call must also be acknowledged to the platform.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pydantic import SecretStr

from gateway.app import serve_gateway
from read_api import serve_api
from runtime.ops_server import Metrics
from runtime.settings import Settings
from syncpipe.embedded.databases import scratch_database
from syncpipe.embedded.process import free_port
from syncpipe.simulation.config import SimulationConfig
from syncpipe.simulation.instance_lifecycles import generate_lifecycles
from syncpipe.simulation.runner import simulate
from tests.running import Serve, running
from workers.acks.metrics import AckerMetrics
from workers.acks.service import serve_acker
from workers.applier.metrics import WorkerMetrics
from workers.applier.service import serve_worker

pytestmark = pytest.mark.integration

INSTANCES = 200
SEED = 7


@contextlib.asynccontextmanager
async def whole_pipeline(kafka_bootstrap: str, database_url: str, ack_port: int) -> AsyncIterator[Settings]:
    run = uuid.uuid4().hex[:12]
    settings = Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=SecretStr(database_url),
        events_topic=f"events-{run}",
        dead_letter_topic=f"dlq-{run}",
        consumer_group=f"workers-{run}",
        topic_partitions=4,
        access_keys=(SecretStr(secrets.token_urlsafe(24)),),
        instance_access_keys=(SecretStr(secrets.token_urlsafe(24)),),
        api_token=SecretStr(secrets.token_urlsafe(24)),
        gateway_port=free_port(),
        api_port=free_port(),
        ack_url=f"http://127.0.0.1:{ack_port}/",
        session_timeout_ms=6000,
        ack_retry_first_s=0.2,
        ack_retry_cap_s=1.0,
    )
    metrics = Metrics()
    components: list[tuple[Serve, bool]] = [
        (lambda ready, stop: serve_api(settings, ready, metrics=metrics), False),
        (lambda ready, stop: serve_gateway(settings, ready, metrics=metrics), False),
        (lambda ready, stop: serve_worker(settings, ready, stop, metrics=WorkerMetrics(metrics)), True),
        (lambda ready, stop: serve_acker(settings, ready, stop, metrics=AckerMetrics(metrics)), True),
    ]
    async with contextlib.AsyncExitStack() as stack:
        for serve, graceful in components:
            await stack.enter_async_context(running(serve, graceful=graceful))
        yield settings


async def test_200_shuffled_re_sent_lifecycles_converge_and_keep_the_contract(
    kafka_bootstrap: str, postgres_server_dsn: str
) -> None:
    ack_port = free_port()
    async with (
        scratch_database(postgres_server_dsn, "instances") as database_url,
        whole_pipeline(kafka_bootstrap, database_url, ack_port) as settings,
    ):
        assert settings.api_token is not None
        report = await simulate(
            SimulationConfig(
                gateway_url=f"http://127.0.0.1:{settings.gateway_port}",
                api_url=f"http://127.0.0.1:{settings.api_port}",
                access_key=settings.access_keys[0],
                api_token=settings.api_token,
                tenants=0,
                instances=INSTANCES,
                instance_access_key=settings.instance_access_keys[0],
                seed=SEED,
                ack_port=ack_port,
                settle_timeout_s=180.0,
                poll_interval_s=0.2,
            )
        )
        print(report.render())  # the figures, with `pytest -s`
        connection = await asyncpg.connect(database_url)
        try:
            stored = await connection.fetchval("SELECT count(*) FROM instances")
            statuses = dict(await connection.fetch("SELECT status, count(*) FROM instances GROUP BY status"))
            late_ids = [cycle.instance_id for cycle in generate_lifecycles(SEED, INSTANCES) if cycle.late_freeze]
            late_statuses = await connection.fetch(
                "SELECT status FROM instances WHERE instance_id = ANY($1::text[])", late_ids
            )
        finally:
            await connection.close()

    tally = report.instances
    assert tally is not None
    # The figures of issue 16's closing note, in one line (`pytest -s`).
    print(
        f"figures: instances {tally.instances}, converged {tally.converged}, mismatches {len(tally.mismatches)},"
        f" problems {len(tally.problems)}, instance calls {tally.requests}, changes stored {tally.changes_accepted},"
        f" instance rows {stored}, released {statuses.get('released', 0)}"
    )
    assert report.ok, report.render()
    assert (tally.instances, tally.converged, list(tally.mismatches), list(tally.problems)) == (
        INSTANCES,
        INSTANCES,
        [],
        [],
    )
    figures = tally.figures
    # Before the merchant's appInfo, no ready template: every instance was being provisioned.
    assert figures["queryInstance before ready: 000004"] == INSTANCES
    assert figures["newInstance answered with its instance: ok"] == INSTANCES
    assert figures["queryInstance answers the merchant's appInfo: ok"] == INSTANCES
    assert figures["newInstance re-sent: ok"] == INSTANCES
    lifecycles = generate_lifecycles(SEED, INSTANCES)
    debug_buys = sum(cycle.debug_buy is not None for cycle in lifecycles)
    assert debug_buys
    assert figures["debug newInstance: ok"] == debug_buys
    late = [cycle for cycle in lifecycles if cycle.released and cycle.late_freeze]
    assert late
    assert figures["late freezes of released instances"] == len(late)
    # Each instance frozen after its release stays released (its freeze was stored, answered 000000).
    assert [row["status"] for row in late_statuses] == ["released"] * len(late)
    assert sum(bool(cycle.early) for cycle in lifecycles) > 0
    # Never a second instance: one row per order line bought, none for the debug ones.
    assert stored == INSTANCES
    assert statuses["released"] == sum(cycle.released for cycle in lifecycles)
    assert report.acks is not None
    assert report.acks.ok
    assert report.acks.received >= tally.changes_accepted
    assert set(report.event_statuses) <= {"applied", "stale", "test"}
