"""Workers SIGKILLed again and again while the platform sends: nothing lost, nothing doubled.

A killed worker commits nothing after its last committed transaction (half of the kills hit a
worker in the middle of one, between its fetch and its offset commit): its partitions go to the
others once the broker gives up on it (its session timeout), and they re-read what it had not
committed. The dedupe rows turn those re-reads into no-ops, and a tenant's events stay in order.
"""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from syncpipe.simulation.generator import WorkloadSizes
from tests.conftest import WHOLE_MACHINE
from tests.faults.audit import audit, write_report
from tests.faults.brokers import TansuBroker
from tests.faults.conftest import Rig
from tests.faults.load import PlatformLoad

pytestmark = [pytest.mark.integration, WHOLE_MACHINE]

WORKERS = 3
KILLS = 4


async def test_workers_killed_and_restarted_during_load_lose_and_double_nothing(rig: Rig[TansuBroker]) -> None:
    started = time.monotonic()
    cluster = rig.cluster
    await cluster.start(workers=WORKERS)
    load = PlatformLoad.simulated(
        cluster.gateway_url, cluster.access_key, seed=11, tenants=12, sizes=WorkloadSizes(8, 8, 25), rate_per_s=25
    )
    rng = random.Random(11)
    kills = 0

    async def kill_workers() -> None:
        """Every other kill hits a random worker at a random moment; the others hit a worker caught
        with a batch transaction open, between its fetch and its offset commit."""
        nonlocal kills
        while kills < KILLS:
            if kills % 2 == 0:
                await asyncio.sleep(2.5)
                victim = rng.choice(cluster.running_workers())
            else:
                victim = await cluster.worker_in_transaction()
            victim.kill()
            kills += 1
            victim.start()  # at once, as a supervisor would: a new member while the dead one still counts

    await asyncio.gather(load.run(), kill_workers())
    report = await audit(
        "workers SIGKILLed", cluster, load, rig.receiver, faults={"worker SIGKILLs": kills}, started=started
    )
    write_report(report)

    assert report.mismatches == 0, "\n".join(report.problems) + "\n" + cluster.logs()
