"""Brokers of a three-node Apache Kafka crash, hang and restart while the platform sends.

Topics have three replicas and `min.insync.replicas` 2, the gateway writes with acks=all, and three
workers run as processes of their own. Each scenario sends a signed load of many tenants until its
faults are over (and a few seconds more); a call answered `000005` is re-sent as the platform would,
with pauses that outlast a node's restart. Afterwards every node serves and every replica is in
sync again, and the audit (`tests.faults.audit`) finds every call answered `000000` applied once in
effect, every tenant equal to the simulator's model, every accepted event acknowledged.

The cluster is started once for the module; a scenario begins by bringing back any node an earlier
one left down or hung (`ThreeKafkaNodes.start`) and runs on topics and a group of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable

import aiohttp
import pytest

from syncpipe.simulation.generator import WorkloadSizes
from tests.conftest import WHOLE_MACHINE
from tests.faults.audit import FaultReport, audit, write_report
from tests.faults.brokers import ThreeKafkaNodes
from tests.faults.cluster import Cluster, PipelineTuning
from tests.faults.conftest import Rig
from tests.faults.load import NOT_STORED_STATUS, PlatformLoad

pytestmark = [pytest.mark.integration, WHOLE_MACHINE]

WORKERS = 3
# Many small tenants, ~200 s of calls planned, longer than any scenario's faults last: the load is
# cut short once they are over. Tenants' histories overlap in time: a prefix holds ~100 of them.
TENANTS, SIZES, RATE_PER_S = 400, WorkloadSizes(2, 2, 4), 25.0
# Calls in flight at most, those waiting for a re-send included (5 s of calls): through a longer
# outage the gateway gets the re-sends of these, every 2 s each.
CONCURRENCY = 128
# Every 2 s for at least 90 s, longer than two nodes take to start again on a loaded machine: a
# refused call is accepted within ~2 s of the cluster taking writes again.
RETRY_DELAYS_S = (0.5, 1.0) + (2.0,) * 45
# The traffic goes on this long once the faults are over, on a cluster that is whole again.
TAIL_S = 3.0
# Into the traffic before the first fault: every worker has partitions and batches in hand.
WARM_UP_S = 3.0
# Kafka's own answers to a produce request, on two loaded cores, may add this to produce_timeout_s.
ANSWER_SLACK_S = 1.5
# Longer than a worker's session timeout (6 s, the broker's minimum) and the broker's (4 s).
PAUSE_S = 8.0
# The controller fences a silent node some seconds after its session timeout (~7 s in all).
FENCED_WITHIN_S = 30.0
# A crashed node is started again this long after. It serves 10-25 s later on a loaded machine; its
# leaderships have moved by then (the controller fences a silent node after ~7 s).
DOWN_S = 3.0
# Two crashed nodes stay down for a few of the gateway's produce timeouts.
TWO_DOWN_S = 6.0


@pytest.fixture
def tuning() -> PipelineTuning:
    """12 partitions, four led by each node; everything else as in the other scenarios."""
    return PipelineTuning(partitions=12)


async def test_the_node_leading_most_partitions_killed_and_restarted(cluster_rig: Rig[ThreeKafkaNodes]) -> None:
    started, cluster, load = await _start(cluster_rig, seed=51)
    nodes = cluster.broker
    figures: dict[str, object] = {}

    async def kill_leader() -> None:
        await asyncio.sleep(WARM_UP_S)
        leaders = await nodes.leaders(cluster.events_topic)
        victim = await nodes.most_leading(cluster.events_topic)
        nodes.kill(victim)
        figures["partitions led by the killed node"] = leaders[victim.node_id]
        await asyncio.sleep(DOWN_S)
        figures["node restart s"] = await _timed(nodes.restart(victim))
        figures["whole again s"] = round(await nodes.wait_whole(), 1)

    report = await _run(
        cluster_rig,
        load,
        kill_leader(),
        scenario="leader broker SIGKILLed",
        started=started,
        counts={"broker SIGKILLs": 1},
    )
    report.figures.update(figures)
    _check(report, load, cluster)


async def test_two_nodes_killed_refuse_every_call_within_the_bound_then_the_load_resumes(
    cluster_rig: Rig[ThreeKafkaNodes],
) -> None:
    """Two nodes down leave one replica of each partition (and no controller quorum): below
    min.insync.replicas nothing can be acknowledged, so each call is answered `000005` within the
    produce timeout, never `000000`; once both are back the re-sent calls are accepted."""
    started, cluster, load = await _start(cluster_rig, seed=52)
    nodes = cluster.broker
    outage: list[float] = []
    figures: dict[str, object] = {}

    async def kill_two() -> None:
        await asyncio.sleep(WARM_UP_S)
        victims = [await nodes.most_leading(cluster.events_topic)]
        victims += [node for node in nodes.nodes if node not in victims][:1]
        nodes.kill(*victims)
        outage.append(time.monotonic())
        await asyncio.sleep(TWO_DOWN_S / 2)
        figures["gateway /readyz while two down"] = await _status(f"{cluster.gateway_url}/readyz")
        await asyncio.sleep(max(0.0, outage[0] + TWO_DOWN_S - time.monotonic()))
        outage.append(time.monotonic())
        figures["nodes restart s"] = await _timed(nodes.restart(*victims))
        figures["whole again s"] = round(await nodes.wait_whole(), 1)

    report = await _run(
        cluster_rig, load, kill_two(), scenario="two brokers SIGKILLed", started=started, counts={"broker SIGKILLs": 2}
    )
    down, back = outage
    during = [post for post in load.posts if post.started >= down and post.ended <= back]
    after = [post for post in load.posts if post.started >= back]
    report.figures["POSTs during the outage"] = len(during)
    report.figures["accepted during the outage"] = sum(post.status == 200 for post in during)
    report.figures.update(figures)
    _check(report, load, cluster)
    assert during, "calls arrived while two nodes were down"
    assert {post.status for post in during} == {NOT_STORED_STATUS}, "nothing is stored with one replica left"
    assert any(post.status == 200 for post in after), "the load resumed once the nodes were back"


async def test_rolling_restart_of_every_node_while_calls_arrive(cluster_rig: Rig[ThreeKafkaNodes]) -> None:
    """Each node in turn is stopped cleanly (its leaderships handed over first), started again and
    caught up (every replica in sync) before the next one, as an operator rolls an upgrade."""
    started, cluster, load = await _start(cluster_rig, seed=53)
    nodes = cluster.broker
    figures: dict[str, object] = {}

    async def roll() -> None:
        await asyncio.sleep(WARM_UP_S)
        for node in nodes.nodes:
            figures[f"node {node.node_id} stop s"] = await _timed(nodes.stop_cleanly(node))
            figures[f"node {node.node_id} start s"] = await _timed(nodes.restart(node))
            figures[f"node {node.node_id} caught up s"] = round(await nodes.wait_whole(), 1)

    report = await _run(
        cluster_rig, load, roll(), scenario="rolling restart", started=started, counts={"broker clean restarts": 3}
    )
    report.figures.update(figures)
    _check(report, load, cluster)


async def test_a_node_hung_past_the_session_timeouts_then_resumed(cluster_rig: Rig[ThreeKafkaNodes]) -> None:
    """The node leading the most partitions stops answering (SIGSTOP) with its connections open,
    longer than a worker's and its own session timeout: the cluster fences it and moves its
    leaderships while it hangs; resumed (SIGCONT), it finds itself fenced, catches up and rejoins."""
    started, cluster, load = await _start(cluster_rig, seed=54)
    nodes = cluster.broker
    figures: dict[str, object] = {}
    moved_after: list[float] = []

    async def hang() -> None:
        await asyncio.sleep(WARM_UP_S)
        leaders = await nodes.leaders(cluster.events_topic)
        victim = await nodes.most_leading(cluster.events_topic)
        others = [node for node in nodes.nodes if node is not victim]  # a hung node would hold a question
        victim.pause()
        hung_at = time.monotonic()
        figures["partitions led by the hung node"] = leaders[victim.node_id]
        # Hung at least PAUSE_S, and until the others fenced it (~7 s) unless that takes far too long.
        while time.monotonic() < hung_at + FENCED_WITHIN_S:
            if not (await nodes.leaders(cluster.events_topic, via=others))[victim.node_id]:
                moved_after.append(time.monotonic() - hung_at)
                figures["its leaderships moved after s"] = round(moved_after[0], 1)
                break
            await asyncio.sleep(0.25)
        await asyncio.sleep(max(0.0, hung_at + PAUSE_S - time.monotonic()))
        victim.resume()
        figures["hung s"] = round(time.monotonic() - hung_at, 1)
        figures["whole again s"] = round(await nodes.wait_whole(), 1)

    report = await _run(
        cluster_rig,
        load,
        hang(),
        scenario="broker hung past session timeouts",
        started=started,
        counts={"broker SIGSTOPs": 1},
    )
    report.figures.update(figures)
    _check(report, load, cluster)
    assert moved_after, f"the hung node still led partitions after {FENCED_WITHIN_S:g} s: it was never fenced"


async def test_workers_killed_with_the_node_leading_most_partitions(cluster_rig: Rig[ThreeKafkaNodes]) -> None:
    """At one instant: the node leading the most partitions and two of the three workers (one caught
    with a batch transaction open) are SIGKILLed. The workers are started again at once, as a
    supervisor would, the node a few seconds later."""
    started, cluster, load = await _start(cluster_rig, seed=55)
    nodes = cluster.broker
    figures: dict[str, object] = {}

    async def kill_together() -> None:
        await asyncio.sleep(WARM_UP_S)
        busy = await cluster.worker_in_transaction()
        other = next(worker for worker in cluster.running_workers() if worker is not busy)
        victim = await nodes.most_leading(cluster.events_topic)
        nodes.kill(victim)
        for worker in (busy, other):
            worker.kill()
            worker.start()
        await asyncio.sleep(DOWN_S)
        figures["node restart s"] = await _timed(nodes.restart(victim))
        figures["whole again s"] = round(await nodes.wait_whole(), 1)

    report = await _run(
        cluster_rig,
        load,
        kill_together(),
        scenario="leader broker and workers SIGKILLed",
        started=started,
        counts={"broker SIGKILLs": 1, "worker SIGKILLs": 2},
    )
    report.figures.update(figures)
    _check(report, load, cluster)


async def _start(rig: Rig[ThreeKafkaNodes], seed: int) -> tuple[float, Cluster[ThreeKafkaNodes], PlatformLoad]:
    started = time.monotonic()
    cluster = rig.cluster
    await cluster.start(workers=WORKERS)
    load = PlatformLoad.simulated(
        cluster.gateway_url,
        cluster.access_key,
        seed=seed,
        tenants=TENANTS,
        sizes=SIZES,
        rate_per_s=RATE_PER_S,
        concurrency=CONCURRENCY,
        retry_delays_s=RETRY_DELAYS_S,
    )
    return started, cluster, load


async def _run(
    rig: Rig[ThreeKafkaNodes],
    load: PlatformLoad,
    faults: Awaitable[None],
    *,
    scenario: str,
    started: float,
    counts: dict[str, int],
) -> FaultReport:
    """Send while `faults` run and TAIL_S after, then audit (the report is written by `_check`)."""
    over = asyncio.Event()

    async def faults_then_stop() -> None:
        try:
            await faults
            await asyncio.sleep(TAIL_S)
        finally:
            over.set()

    await asyncio.gather(load.run(until=over), faults_then_stop())
    return await audit(scenario, rig.cluster, load, rig.receiver, faults=counts, started=started, settle_timeout_s=90)


def _check(report: FaultReport, load: PlatformLoad, cluster: Cluster[ThreeKafkaNodes]) -> None:
    """What every scenario must show, once its report is written."""
    report.figures["tenants"] = len({delivery.call.body["tenantId"] for delivery in load.deliveries})
    write_report(report)
    assert report.mismatches == 0, "\n".join(report.problems) + "\n" + cluster.logs()
    exited = [process.name for process in cluster.processes() if not process.running]
    assert not exited, f"{exited} exited on a broker fault instead of waiting it out:\n{cluster.logs()}"
    assert load.cut_short, "the planned load ran out before the faults were over"
    assert report.refused == {}, "the platform's retries outlast the faults"
    assert report.no_answer == 0, "the gateway answered every request"
    assert report.slowest_000005_s < cluster.tuning.produce_timeout_s + ANSWER_SLACK_S


async def _status(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


async def _timed(step: Awaitable[None]) -> float:
    began = time.monotonic()
    await step
    return round(time.monotonic() - began, 1)
