"""Each fault scenario gets a pipeline of its own: a fresh Postgres server and processes, on topics
and a consumer group of its own; on a fresh Tansu (`rig`), or on the three Apache Kafka nodes its
module shares (`cluster_rig`, which first brings back any node an earlier scenario left down)."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import pytest

from syncpipe.embedded import EmbeddedKafka
from syncpipe.embedded.apache_kafka import ApacheKafkaCluster
from syncpipe.simulation.ack_receiver import AckReceiver, serving_acks
from tests.faults.brokers import FaultBroker, TansuBroker, ThreeKafkaNodes
from tests.faults.cluster import Cluster, PipelineTuning

B = TypeVar("B", bound=FaultBroker)


@dataclass(frozen=True)
class Rig(Generic[B]):
    """A cluster not yet started, and the platform's ack endpoint its acker sends to."""

    cluster: Cluster[B]
    receiver: AckReceiver


@pytest.fixture
def tuning() -> PipelineTuning:
    """The pipeline's settings; a module overrides this fixture to tune its scenarios."""
    return PipelineTuning()


@pytest.fixture
async def rig(tmp_path: Path, tuning: PipelineTuning) -> AsyncIterator[Rig[TansuBroker]]:
    async with _rig(tmp_path, TansuBroker(EmbeddedKafka(log_dir=tmp_path)), tuning) as made:
        yield made


@pytest.fixture(scope="module")
def three_kafka_nodes() -> Iterator[ApacheKafkaCluster]:
    """Started once for the module's scenarios (from the main thread, which its nodes die with)."""
    with ApacheKafkaCluster(nodes=3) as cluster:
        yield cluster
        # Its data goes with it: no need to wait for a controlled shutdown, which can take 15 s.
        for node in cluster.nodes:
            node.kill()


@pytest.fixture
async def cluster_rig(
    tmp_path: Path, three_kafka_nodes: ApacheKafkaCluster, tuning: PipelineTuning
) -> AsyncIterator[Rig[ThreeKafkaNodes]]:
    async with _rig(tmp_path, ThreeKafkaNodes(three_kafka_nodes), tuning) as made:
        yield made


@contextlib.asynccontextmanager
async def _rig(tmp_path: Path, broker: B, tuning: PipelineTuning) -> AsyncIterator[Rig[B]]:
    access_key = secrets.token_urlsafe(24)
    receiver = AckReceiver(access_key)
    async with serving_acks(receiver, "127.0.0.1", 0) as ack_url:
        cluster = Cluster(tmp_path, access_key, ack_url, broker, tuning)
        try:
            yield Rig(cluster, receiver)
        finally:
            await cluster.close()
