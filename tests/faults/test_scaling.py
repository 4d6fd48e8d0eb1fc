"""Workers added and removed while the platform sends: the group shares the partitions, and a
worker sent SIGTERM hands its partitions back between batches, committing what it finished.

Two of the calls are poison (`tests/workers/poison.py`): accepted by the gateway, they can never
apply. They end dead-lettered with their reason, and their tenants converge to the model without
them, although their later events applied without them.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from schemas.event_id import event_id
from syncpipe.simulation.generator import PlatformCall, WorkloadSizes
from tests.faults.audit import audit, write_report
from tests.faults.conftest import Rig
from tests.faults.load import PlatformLoad, parse
from tests.workers.poison import poison_for

pytestmark = pytest.mark.integration

STOP_BOUND_S = 10.0


async def test_workers_added_and_removed_during_load_lose_and_double_nothing(rig: Rig) -> None:
    started = time.monotonic()
    cluster = rig.cluster
    await cluster.start(workers=1)
    poisons: list[PlatformCall] = []

    def poison_two_tenants(history: list[PlatformCall]) -> list[PlatformCall]:
        tenants = sorted({str(call.body["tenantId"]) for call in history})
        poisons.extend(poison_for(history, tenant) for tenant in tenants[:2])
        return poisons

    load = PlatformLoad.simulated(
        cluster.gateway_url,
        cluster.access_key,
        seed=44,
        tenants=12,
        sizes=WorkloadSizes(8, 8, 25),
        rate_per_s=40,
        extra=poison_two_tenants,
    )
    stops: list[tuple[int | None, float]] = []

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

    await asyncio.gather(load.run(), scale())
    report = await audit(
        "workers added and removed",
        cluster,
        load,
        rig.receiver,
        faults={"workers added": 2, "workers stopped (SIGTERM)": len(stops), "poison calls": len(poisons)},
        started=started,
        excluded={event_id(parse(poison)) for poison in poisons},
    )
    report.figures["slowest SIGTERM exit s"] = round(max(seconds for _, seconds in stops), 2)
    write_report(report)

    assert report.mismatches == 0, "\n".join(report.problems) + "\n" + cluster.logs()
    assert [code for code, _ in stops] == [0, 0], cluster.logs()
    assert max(seconds for _, seconds in stops) < STOP_BOUND_S
