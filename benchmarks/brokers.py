"""The brokers a benchmark run measures on, each in the shape it is meant to stand for.

- `apache`: the production shape. Apache Kafka 4.4 (KRaft) as three nodes, each a broker and a
  controller (`syncpipe.embedded.apache_kafka`), topics with replication factor 3 and
  `min.insync.replicas` 2, every producer with acks=all: an accepted call is on two nodes' logs at
  least before it is answered. All three JVMs share the machine's cores with everything else under
  test, and they run as the embedded module starts them (C1 compiler only, serial GC, 384 MB heap).
- `tansu`: the embedded Tansu of `./dev up` and most tests: one node, in memory, replication 1.

What the broker said it holds is read back after the first topics are created (`topic_read_back`),
so the JSON records the replication the figures were taken with, not the one asked for.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from runtime.topics import default_min_insync_replicas
from syncpipe.embedded.apache_kafka import ApacheKafkaCluster
from syncpipe.embedded.brokers import EmbeddedBroker
from syncpipe.embedded.kafka import EmbeddedKafka

BrokerChoice = Literal["apache", "tansu"]
# Apache Kafka first: its figures are the headline ones (issue 14).
BROKER_ORDER: tuple[BrokerChoice, ...] = ("apache", "tansu")


@dataclass(frozen=True)
class BrokerSetup:
    name: BrokerChoice
    nodes: int
    replication_factor: int
    description: str
    # The shortest consumer session the broker accepts (Kafka's group.min.session.timeout.ms).
    min_session_timeout_ms: int

    @property
    def min_insync_replicas(self) -> int:
        """What runtime.topics gives a topic of this replication (SYNCPIPE_TOPIC_MIN_INSYNC_REPLICAS unset)."""
        return default_min_insync_replicas(self.replication_factor)

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "min_insync_replicas": self.min_insync_replicas,
            # The gateway's publisher and the harness's topic filler both produce with acks=all.
            "producer_acks": "all",
        }

    def start_broker(self, run_dir: Path) -> EmbeddedBroker:
        """The broker, not yet started (enter it as a context manager)."""
        if self.name == "apache":
            return ApacheKafkaCluster(nodes=self.nodes)
        return EmbeddedKafka(log_dir=run_dir)


SETUPS: dict[BrokerChoice, BrokerSetup] = {
    "apache": BrokerSetup(
        "apache",
        nodes=3,
        replication_factor=3,
        min_session_timeout_ms=6_000,
        description="Apache Kafka 4.4 (KRaft), 3 nodes (broker+controller each), replication 3, "
        "min.insync.replicas 2, acks=all; the JVMs share the cores with the processes under test",
    ),
    "tansu": BrokerSetup(
        "tansu",
        nodes=1,
        replication_factor=1,
        min_session_timeout_ms=1_000,
        description="embedded Tansu, 1 node, in memory, replication 1, acks=all",
    ),
}


def chosen(option: str) -> list[BrokerSetup]:
    """`--broker tansu|apache|both` as the setups to run, Apache first."""
    setups = [SETUPS[name] for name in BROKER_ORDER if option in (name, "both")]
    if not setups:
        raise ValueError(f"unknown broker {option!r}; choose tansu, apache or both")
    return setups


async def topic_read_back(bootstrap_servers: str, topic: str, wait_s: float = 15.0) -> dict[str, Any]:
    """The topic's replication and in-sync minimum as the broker reports them. A node that has not yet
    applied the topic's creation from the metadata log answers its configs with an error and no
    entries: asked again until one lists them, for up to `wait_s`."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            [described] = await admin.describe_topics([topic])
            [answer] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
            [resource] = answer.to_object()["resources"]
            configs = {entry["config_names"]: entry["config_value"] for entry in resource["config_entries"]}
            if "min.insync.replicas" in configs or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    partitions = described["partitions"]
    return {
        "partitions": len(partitions),
        "replicas": sorted({len(partition["replicas"]) for partition in partitions}),
        "in_sync": sorted({len(partition["isr"]) for partition in partitions}),
        "min.insync.replicas": configs.get("min.insync.replicas"),
    }
