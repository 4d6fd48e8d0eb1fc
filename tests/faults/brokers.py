"""The brokers a fault scenario's pipeline runs on, and the faults each of them can suffer.

`TansuBroker`: the embedded Tansu, one in-memory node started and stopped with the pipeline. It can
hang (SIGSTOP) and resume, never restart: its data lives in its memory.

`ThreeKafkaNodes`: three Apache Kafka nodes (`ApacheKafkaCluster(nodes=3)`, each a broker and a
controller), started once per test module and shared by its scenarios, each of which has topics and
a consumer group of its own. Topics get three replicas and `min.insync.replicas` 2, and the gateway
writes with acks=all: a write counts once two nodes hold it. Any node can be SIGKILLed and started
again on its data, stopped cleanly, hung and resumed; `wait_whole` waits until every node serves and
every replica is back in sync, as an operator does before touching the next node.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any, Protocol

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from syncpipe.embedded import EmbeddedKafka
from syncpipe.embedded.apache_kafka import ApacheKafkaCluster, ApacheKafkaNode, wait_until_listed

# A node starts in a few seconds on an idle machine; on two cores shared with a test suite and two
# other nodes, far longer. Catching up on a few thousand records is quick next to that.
_NODE_START_TIMEOUT_S = 120.0
_WHOLE_TIMEOUT_S = 120.0
_POLL_S = 0.25
# A node that does not answer a metadata request this fast is down or hung: the next one is asked.
_ASK_TIMEOUT_MS = 3000


class FaultBroker(Protocol):
    """What the pipeline of a fault scenario needs of its broker."""

    @property
    def bootstrap_servers(self) -> str: ...

    def topic_environment(self) -> dict[str, str]:
        """The syncpipe variables that fit the broker's topics to it (replication)."""

    async def start(self) -> None:
        """Ready to serve the scenario's pipeline."""

    async def stop(self) -> None:
        """The scenario is over."""


class TansuBroker:
    """The embedded Tansu of one scenario, its log beside the pipeline's."""

    def __init__(self, kafka: EmbeddedKafka) -> None:
        self.kafka = kafka

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka.bootstrap_servers

    def topic_environment(self) -> dict[str, str]:
        return {}

    async def start(self) -> None:
        await asyncio.to_thread(self.kafka.start)

    async def stop(self) -> None:
        self.kafka.resume()
        await asyncio.to_thread(self.kafka.stop)

    def pause(self) -> None:
        """SIGSTOP: Tansu keeps its connections open and answers nothing (a hung broker)."""
        self.kafka.pause()

    def resume(self) -> None:
        self.kafka.resume()


class ThreeKafkaNodes:
    """A shared three-node Apache Kafka as one scenario's broker. Nodes are launched from the calling
    (main) thread, whose death takes them along (`syncpipe.embedded.process.spawn`); the waiting is
    done in worker threads, so the event loop goes on meanwhile."""

    REPLICATION = 3
    MIN_INSYNC_REPLICAS = 2

    def __init__(self, cluster: ApacheKafkaCluster) -> None:
        self.cluster = cluster

    @property
    def bootstrap_servers(self) -> str:
        return self.cluster.bootstrap_servers

    @property
    def nodes(self) -> list[ApacheKafkaNode]:
        return self.cluster.nodes

    def topic_environment(self) -> dict[str, str]:
        return {
            "SYNCPIPE_TOPIC_REPLICATION_FACTOR": str(self.REPLICATION),
            "SYNCPIPE_TOPIC_MIN_INSYNC_REPLICAS": str(self.MIN_INSYNC_REPLICAS),
        }

    async def start(self) -> None:
        """Bring back what an earlier scenario may have left down or hung, and wait until whole."""
        for node in self.nodes:
            node.resume()
        await self.restart(*(node for node in self.nodes if node.pid is None))
        await self.wait_whole()

    async def stop(self) -> None:
        """Nothing: the cluster outlives the scenario (the module's fixture stops it)."""

    def node(self, node_id: int) -> ApacheKafkaNode:
        [node] = [node for node in self.nodes if node.node_id == node_id]
        return node

    async def leaders(self, topic: str, via: Iterable[ApacheKafkaNode] | None = None) -> Counter[int]:
        """How many partitions of `topic` each node leads, by node id, in the metadata of `via` (the
        nodes asked; default all of them)."""
        partitions = (await self._describe([topic], via))[0]["partitions"]
        return Counter(partition["leader"] for partition in partitions if partition["leader"] >= 0)

    async def most_leading(self, topic: str) -> ApacheKafkaNode:
        """The node that leads the most partitions of `topic`."""
        [(node_id, _)] = (await self.leaders(topic)).most_common(1)
        return self.node(node_id)

    def kill(self, *nodes: ApacheKafkaNode) -> None:
        """SIGKILL each of `nodes`: no controlled shutdown, nothing flushed."""
        for node in nodes:
            node.kill()

    async def restart(self, *nodes: ApacheKafkaNode) -> None:
        """Start `nodes` (killed or stopped) on their data and ports; return once each one serves."""
        if not nodes:
            return
        for node in nodes:
            node.launch()
        every = frozenset(node.node_id for node in self.nodes)
        await asyncio.to_thread(wait_until_listed, list(nodes), every, _NODE_START_TIMEOUT_S)

    async def stop_cleanly(self, node: ApacheKafkaNode) -> None:
        """SIGTERM and wait: a controlled shutdown hands the node's leaderships over first."""
        await asyncio.to_thread(node.stop)

    async def wait_whole(self, timeout_s: float = _WHOLE_TIMEOUT_S) -> float:
        """Until every node serves and every partition of every topic (Kafka's committed offsets among
        them) has a leader and all its replicas in sync; returns the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout_s
        every = frozenset(node.node_id for node in self.nodes)
        await asyncio.to_thread(wait_until_listed, self.nodes, every, timeout_s)
        while True:
            lagging = _not_in_sync(await self._describe(None))
            if not lagging:
                return time.monotonic() - started
            if time.monotonic() > deadline:
                raise AssertionError(f"replicas still out of sync after {timeout_s:g} s: {lagging[:10]}")
            await asyncio.sleep(_POLL_S)

    async def _describe(
        self, topics: list[str] | None, via: Iterable[ApacheKafkaNode] | None = None
    ) -> list[dict[str, Any]]:
        """The descriptions of `topics` (None: of every topic) in the metadata of the first of `via`
        (default: every node) that runs and answers. Each node is asked directly: a client left to
        pick a node could pick a hung one and wait for it."""
        asked = [node for node in via or self.nodes if node.pid is not None]
        for node in asked:
            client = AIOKafkaClient(bootstrap_servers=node.bootstrap_servers, request_timeout_ms=_ASK_TIMEOUT_MS)
            try:
                async with asyncio.timeout(_ASK_TIMEOUT_MS / 1000):
                    await client.bootstrap()
                    response = await client.send(node.node_id, MetadataRequest(topics))
                descriptions: list[dict[str, Any]] = response.to_object()["topics"]
                return descriptions
            except (KafkaError, OSError, TimeoutError):
                continue
            finally:
                await client.close()
        raise AssertionError(f"no node of {[node.node_id for node in asked]} answered a metadata request")


def _not_in_sync(descriptions: Iterable[dict[str, Any]]) -> list[str]:
    """`topic:partition` of each partition without a leader or with a replica out of sync."""
    lagging = []
    for description in descriptions:
        if description["error_code"] != 0:
            lagging.append(f"{description['topic']} (error {description['error_code']})")
            continue
        for partition in description["partitions"]:
            if partition["leader"] < 0 or set(partition["isr"]) != set(partition["replicas"]):
                lagging.append(f"{description['topic']}:{partition['partition']}")
    return lagging
