"""Workers added and removed while the platform sends: the group shares the partitions, and a
worker sent SIGTERM hands its partitions back between batches, committing what it finished.

Two poison records (`tests/workers/poison.py`) are written straight to the events topic half-way
through the traffic, while the group changes: they can never apply. They end dead-lettered with
their reason, and their tenants converge to the model without them, although their later events
applied without them.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from syncpipe.simulation.generator import WorkloadSizes, generate_history
from tests.conftest import WHOLE_MACHINE
from tests.faults.audit import audit, write_report
from tests.faults.brokers import TansuBroker
from tests.faults.conftest import Rig
from tests.faults.load import PlatformLoad
from tests.workers.poison import poison_for, write_poison

pytestmark = [pytest.mark.integration, WHOLE_MACHINE]

STOP_BOUND_S = 10.0
SEED, TENANTS, SIZES = 44, 12, WorkloadSizes(8, 8, 25)
RATE_PER_S = 40


async def test_workers_added_and_removed_during_load_lose_and_double_nothing(rig: Rig[TansuBroker]) -> None:
    started = time.monotonic()
    cluster = rig.cluster
    await cluster.start(workers=1)
    history = generate_history(SEED, TENANTS, SIZES)  # the history the load sends
    poisons = [poison_for(history, tenant) for tenant in sorted({str(call.body["tenantId"]) for call in history})[:2]]
    poisoned: list[str] = []
    load = PlatformLoad.simulated(
        cluster.gateway_url, cluster.access_key, seed=SEED, tenants=TENANTS, sizes=SIZES, rate_per_s=RATE_PER_S
    )
    stops: list[tuple[int | None, float]] = []

    async def poison() -> None:
        await asyncio.sleep(len(load.deliveries) / RATE_PER_S / 2)
        poisoned.extend(await write_poison(cluster.broker.bootstrap_servers, cluster.events_topic, poisons))

    async def scale() -> None:
        await asyncio.sleep(1.5)
        added = [asyncio.create_task(cluster.start_worker())]
        await asyncio.sleep(1.5)
        added.append(asyncio.create_task(cluster.start_worker()))
        await asyncio.gather(*added)
        await asyncio.sleep(1.0)
        for worker in cluster.workers[:2]:
            stops.append(await worker.terminate(timeout_s=STOP_BOUND_S + 5))
            await asyncio.sleep(1.5)

    await asyncio.gather(load.run(), scale(), poison())
    report = await audit(
        "workers added and removed",
        cluster,
        load,
        rig.receiver,
        faults={"workers added": 2, "workers stopped (SIGTERM)": len(stops), "poison records": len(poisoned)},
        started=started,
        poisoned=poisoned,
    )
    report.figures["slowest SIGTERM exit s"] = round(max(seconds for _, seconds in stops), 2)
    write_report(report)

    assert report.mismatches == 0, "\n".join(report.problems) + "\n" + cluster.logs()
    assert [code for code, _ in stops] == [0, 0], cluster.logs()
    assert max(seconds for _, seconds in stops) < STOP_BOUND_S
