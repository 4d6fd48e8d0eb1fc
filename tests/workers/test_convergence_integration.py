"""The convergence property through the real broker and Postgres, with a worker restart.

Each example draws dozens of tenant histories (hypothesis), delivers all their calls shuffled
and with duplicates onto one topic, stops the worker half-way and starts another, then compares
every tenant in Postgres with the reference model.
"""

from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from runtime.settings import Settings
from schemas.calls import AnyCall
from syncpipe.simulation.model import expected_state
from syncpipe.simulation.snapshot import TenantSnapshot
from tests.workers.histories import MIXES, deliveries, histories
from tests.workers.pipeline import publish, read_snapshot, running_worker, wait_for_events

pytestmark = pytest.mark.integration

TENANTS_PER_EXAMPLE = 24


@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
async def test_shuffled_duplicated_histories_converge_across_a_worker_restart(
    settings: Settings, database_url: str, data: st.DataObject
) -> None:
    run = uuid.uuid4().hex[:8]
    worker_settings = settings.model_copy(
        update={"database_url": SecretStr(database_url), "session_timeout_ms": 6000, "batch_max_records": 50}
    )
    mixes = sorted(MIXES)
    calls: list[AnyCall] = []
    delivered: list[AnyCall] = []
    for index in range(TENANTS_PER_EXAMPLE):
        history = data.draw(histories(f"t-{run}-{index}", max_calls=20, interfaces=MIXES[mixes[index % len(mixes)]]))
        calls += history
        delivered += data.draw(deliveries(history))
    delivered = data.draw(st.permutations(delivered))
    half = len(delivered) // 2

    async with running_worker(worker_settings):
        first = await publish(worker_settings, delivered[:half])
        await wait_for_events(database_url, first)
    second = await publish(worker_settings, delivered[half:])
    async with running_worker(worker_settings):
        await wait_for_events(database_url, first + second, timeout_s=120)

    expected = expected_state(calls)
    for index in range(TENANTS_PER_EXAMPLE):
        tenant = f"t-{run}-{index}"
        assert await read_snapshot(database_url, tenant) == expected.get(tenant, TenantSnapshot()), tenant
