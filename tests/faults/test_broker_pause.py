"""The broker hangs (SIGSTOP) for several seconds while the platform sends, then resumes (SIGCONT).

A hung broker keeps its connections open and answers nothing: the worst kind of outage for a
client. The gateway must answer `000005` within its produce timeout (not hang), and the platform's
retries get every call accepted once the broker is back; workers reconnect by themselves.
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

PAUSE_S = 5.0
# The sender's pauses between retries outlast the broker's pause, so every call ends up accepted.
RETRY_DELAYS_S = (1.0, 2.0, 3.0, 4.0, 5.0)


async def test_a_hung_broker_gets_000005_fast_and_loses_or_doubles_nothing(rig: Rig[TansuBroker]) -> None:
    started = time.monotonic()
    cluster = rig.cluster
    await cluster.start(workers=2)
    load = PlatformLoad.simulated(
        cluster.gateway_url,
        cluster.access_key,
        seed=33,
        tenants=12,
        sizes=WorkloadSizes(8, 8, 25),
        rate_per_s=40,
        retry_delays_s=RETRY_DELAYS_S,
    )

    async def hang_broker() -> None:
        await asyncio.sleep(3.0)
        cluster.broker.pause()
        await asyncio.sleep(PAUSE_S)
        cluster.broker.resume()

    await asyncio.gather(load.run(), hang_broker())
    report = await audit(
        "broker hung", cluster, load, rig.receiver, faults={f"broker pauses of {PAUSE_S:g} s": 1}, started=started
    )
    write_report(report)

    assert report.mismatches == 0, "\n".join(report.problems) + "\n" + cluster.logs()
    assert report.answered_000005, "the pause should have made the gateway refuse some calls"
    assert report.slowest_000005_s < cluster.tuning.produce_timeout_s + 1.0
    assert all(post.status is not None for post in load.posts), "every request was answered"
    assert report.refused == {}, "the platform's retries outlast the pause"
