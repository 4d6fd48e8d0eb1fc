"""Postgres crashes twice while the platform sends: the gateway keeps accepting, workers wait and resume.

The whole server is SIGKILLed (every one of its processes) and started again on the same data and
port. Meanwhile the gateway, which never touches Postgres, accepts every call at once; workers fail
their transaction, commit no offset, retry with backoff and go on by themselves once the server is
back; the read API and the acker reconnect too. During the first outage one worker is sent SIGTERM:
it must exit promptly, without waiting for the database, and a replacement takes its partitions.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from syncpipe.simulation.generator import WorkloadSizes
from tests.conftest import WHOLE_MACHINE
from tests.faults.audit import audit, write_report
from tests.faults.brokers import TansuBroker
from tests.faults.conftest import Rig
from tests.faults.load import PlatformLoad

pytestmark = [pytest.mark.integration, WHOLE_MACHINE]

OUTAGE_S = 3.0
# A worker asked to stop while Postgres is down abandons its batch (nothing committed) and leaves.
STOP_BOUND_S = 10.0


async def test_postgres_crashes_during_load_lose_and_double_nothing(rig: Rig[TansuBroker]) -> None:
    started = time.monotonic()
    cluster = rig.cluster
    await cluster.start(workers=2)
    load = PlatformLoad.simulated(
        cluster.gateway_url, cluster.access_key, seed=22, tenants=12, sizes=WorkloadSizes(8, 8, 25), rate_per_s=40
    )
    crashes = 0
    stopped: list[tuple[int | None, float]] = []

    async def crash_postgres() -> None:
        nonlocal crashes
        for outage in range(2):
            await asyncio.sleep(2.5)
            cluster.crash_postgres()
            crashes += 1
            await asyncio.sleep(OUTAGE_S / 2)
            if outage == 0:
                stopped.append(await cluster.workers[0].terminate(timeout_s=STOP_BOUND_S + 5))
                replacement = asyncio.create_task(cluster.start_worker())
            await asyncio.sleep(OUTAGE_S / 2)
            await cluster.restart_postgres()
        await replacement

    await asyncio.gather(load.run(), crash_postgres())
    report = await audit(
        "Postgres crashes",
        cluster,
        load,
        rig.receiver,
        faults={"Postgres crashes": crashes, "worker SIGTERMs while Postgres down": len(stopped)},
        started=started,
    )
    [(returncode, stop_seconds)] = stopped
    report.figures["worker exit on SIGTERM while Postgres down s"] = round(stop_seconds, 2)
    write_report(report)

    assert report.mismatches == 0, "\n".join(report.problems) + "\n" + cluster.logs()
    assert report.refused == {}, "the gateway does not need Postgres: every call is accepted"
    assert report.retried_calls == 0
    assert returncode == 0, cluster.workers[0].tail()
    assert stop_seconds < STOP_BOUND_S
