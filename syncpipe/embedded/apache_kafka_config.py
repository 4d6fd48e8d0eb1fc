"""The `server.properties` of one node of the embedded Apache Kafka cluster (KRaft, no ZooKeeper).

Every node is both a broker and a controller (`process.roles=broker,controller`) with a static quorum
of all the nodes (`controller.quorum.voters`), listening on 127.0.0.1 only. The settings are a real
cluster's, scaled to its size (replication of the internal topics, `min.insync.replicas`), and tuned
to start fast and stay small on a shared two-core machine.
"""

from __future__ import annotations

import base64
import uuid
from pathlib import Path
from typing import NamedTuple

from runtime.topics import default_min_insync_replicas

# A topic cannot have more replicas than brokers; three is what production clusters use.
_MAX_REPLICATION = 3
# Consumer-group coordinators: Kafka's 50 partitions cost a second of creation at the first group
# join on a small machine; a handful spreads test groups over the nodes just as well.
_OFFSETS_PARTITIONS = 8
_TRANSACTION_LOG_PARTITIONS = 4
# Test topics are many and short-lived: small segments and indexes keep a node's disk and memory small.
_SEGMENT_BYTES = 16 * 1024 * 1024
_INDEX_BYTES = 1024 * 1024


class NodeAddress(NamedTuple):
    node_id: int
    port: int  # clients and the other brokers (PLAINTEXT)
    controller_port: int  # the Raft quorum (CONTROLLER)


def new_cluster_id() -> str:
    """A cluster id as `kafka-storage random-uuid` prints it: 16 random bytes, URL-safe base64, unpadded
    (Kafka refuses ids that start with '-', which would read as a command-line option)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def server_properties(node: NodeAddress, quorum: list[NodeAddress], data_dir: Path) -> str:
    replication = min(_MAX_REPLICATION, len(quorum))
    insync = default_min_insync_replicas(replication)
    voters = ",".join(f"{voter.node_id}@127.0.0.1:{voter.controller_port}" for voter in quorum)
    properties: dict[str, object] = {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "default.replication.factor": replication,
        "min.insync.replicas": insync,
        "offsets.topic.replication.factor": replication,
        "offsets.topic.num.partitions": _OFFSETS_PARTITIONS,
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": insync,
        "transaction.state.log.num.partitions": _TRANSACTION_LOG_PARTITIONS,
        "share.coordinator.state.topic.replication.factor": replication,
        "share.coordinator.state.topic.min.isr": insync,
        # A killed node is fenced, and its partitions led elsewhere, after 4 s instead of 9.
        "broker.session.timeout.ms": 4000,
        "broker.heartbeat.interval.ms": 1000,
        # A consumer group forms as soon as its first member joins, instead of 3 s later.
        "group.initial.rebalance.delay.ms": 0,
        "log.segment.bytes": _SEGMENT_BYTES,
        "log.index.size.max.bytes": _INDEX_BYTES,
        # Two cores shared by up to three nodes and the test suite: few threads each.
        "num.network.threads": 2,
        "num.io.threads": 4,
        "background.threads": 2,
    }
    return "".join(f"{name}={value}\n" for name, value in properties.items())
