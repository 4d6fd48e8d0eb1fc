"""The embedded Apache Kafka: one or three JVM nodes in KRaft mode, each a broker and a controller.

`with ApacheKafkaCluster(nodes=3) as kafka: kafka.bootstrap_servers` — the pinned Kafka of
`apache-kafka/pom.xml` (jars from Maven Central, see `syncpipe.embedded.maven`), each node on free
loopback ports, its storage formatted under a fresh cluster id, started, and waited for until every
node's Metadata answer lists every broker. Nodes die with this process (`process.spawn`). The data
and each node's log live in a temp dir, removed on stop; a failed start shows the log's tail.

Nodes are for fault tests too: `kill()` (SIGKILL, a crash), `restart()` on the same data and ports,
`pause()`/`resume()` (SIGSTOP/SIGCONT, a hung node). Start them from the thread that stays (the main
one): a child dies with the thread that started it.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from syncpipe.embedded.apache_kafka_config import NodeAddress, new_cluster_id, server_properties
from syncpipe.embedded.broker_metadata import registered_brokers
from syncpipe.embedded.maven import java_executable, kafka_classpath, runtime_file
from syncpipe.embedded.process import EmbeddedServiceError, free_port, port_open, spawn, tail
from syncpipe.embedded.run_dirs import make_run_dir

# The temp folders of the cluster's data (syncpipe.embedded.run_dirs cleans up after a run that died).
RUN_DIR_PREFIX = "syncpipe-apache-kafka-"
# A node starts in ~3 s on an idle core; three at once on two cores busy with a test suite, far longer.
_START_TIMEOUT_S = 120.0
# Formatting is a JVM start and a few files: ~1 s.
_FORMAT_TIMEOUT_S = 60.0
# A clean stop takes ~0.5 s for one node and ~5.5 s for three stopping together (the Raft client waits up
# to 5 s for peers that are leaving too); past this bound the node is killed.
_STOP_TIMEOUT_S = 15.0
# How often a starting node is asked for metadata: each ask is a thread and a connection.
_POLL_S = 0.2
_JVM_OPTIONS = (
    # Plenty for test traffic and records of a few MB; three nodes must fit beside the test suite.
    "-Xms64m",
    "-Xmx384m",
    "-XX:+UseSerialGC",  # no parallel GC threads competing for two cores
    "-XX:TieredStopAtLevel=1",  # C1 only: starts faster and spends less CPU compiling; plenty for tests
    "-XX:+ExitOnOutOfMemoryError",  # a node that ran out dies visibly instead of limping
    "-Djava.awt.headless=true",
)


class ApacheKafkaNode:
    """One node of an ApacheKafkaCluster; its data dir and ports stay the same across kill and restart."""

    def __init__(self, address: NodeAddress, root: Path, java: str, classpath: str) -> None:
        self.address = address
        self._dir = root / f"node-{address.node_id}"
        self.data_dir = self._dir / "data"
        self.config_path = self._dir / "server.properties"
        self.log_path = self._dir / "kafka.log"
        self._java_command = [java, *_JVM_OPTIONS, f"-Dlog4j2.configurationFile={root / 'log4j2.properties'}"]
        self._java_command += ["-cp", classpath]
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def node_id(self) -> int:
        return self.address.node_id

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.address.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def configure(self, quorum: list[NodeAddress]) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(server_properties(self.address, quorum, self.data_dir), encoding="utf-8")

    def format_storage(self, cluster_id: str) -> subprocess.Popen[bytes]:
        """Start `kafka-storage format` for this node (the caller waits, so nodes format in parallel)."""
        args = ["kafka.tools.StorageTool", "format", "--cluster-id", cluster_id, "--config", str(self.config_path)]
        return spawn([*self._java_command, *args], self.log_path)

    def launch(self) -> None:
        """Start the node without waiting for it (a node alone cannot be ready without its quorum)."""
        self._process = spawn([*self._java_command, "kafka.Kafka", str(self.config_path)], self.log_path)

    def running(self) -> subprocess.Popen[bytes]:
        """The node's process; EmbeddedServiceError with its log's tail if it has exited."""
        if self._process is None:
            raise EmbeddedServiceError(f"Kafka node {self.node_id} is not started")
        if self._process.poll() is not None:
            raise EmbeddedServiceError(
                f"Kafka node {self.node_id} exited with {self._process.returncode}: {tail(self.log_path)}"
            )
        return self._process

    def sees(self, node_ids: frozenset[int]) -> bool:
        """Whether this node answers Metadata listing (at least) `node_ids` as registered brokers."""
        if not port_open(self.address.port):
            return False
        return node_ids <= registered_brokers([self.bootstrap_servers])[self.bootstrap_servers]

    def restart(self) -> None:
        """Stop (cleanly if it runs) and start again on the same data and ports; return once it serves."""
        self.stop()
        self.launch()
        wait_until_listed([self], frozenset({self.node_id}), _START_TIMEOUT_S)

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed; `restart()` brings the node back."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def pause(self) -> None:
        """SIGSTOP: the node stops answering but keeps its connections open (a hung node)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def begin_stop(self) -> None:
        """SIGTERM: a controlled shutdown (continued first if paused, or it could not act on it)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)
            self._process.send_signal(signal.SIGTERM)

    def finish_stop(self, deadline: float) -> None:
        """Wait for the stop begun until `deadline` (monotonic), then SIGKILL."""
        if self._process is None:
            return
        try:
            self._process.wait(max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def stop(self) -> None:
        self.begin_stop()
        self.finish_stop(time.monotonic() + _STOP_TIMEOUT_S)

    def log_tail(self) -> str:
        return tail(self.log_path)


def wait_until_listed(nodes: list[ApacheKafkaNode], node_ids: frozenset[int], timeout_s: float) -> None:
    """Until each of `nodes` answers Metadata listing `node_ids`; EmbeddedServiceError with the log's
    tail of a node that exits meanwhile, or of the first one still waiting when the time runs out."""
    deadline = time.monotonic() + timeout_s
    waiting = list(nodes)
    while True:
        for node in nodes:
            node.running()
        waiting = [node for node in waiting if not node.sees(node_ids)]
        if not waiting:
            return
        if time.monotonic() > deadline:
            late = waiting[0]
            raise EmbeddedServiceError(
                f"Kafka node {late.node_id} did not list brokers {sorted(node_ids)} within {timeout_s:.0f} s: "
                f"{late.log_tail()}"
            )
        time.sleep(_POLL_S)


class ApacheKafkaCluster:
    """`nodes` combined broker+controller nodes; `bootstrap_servers` names all of them."""

    def __init__(self, nodes: int = 1) -> None:
        if nodes < 1:
            raise ValueError("a cluster has at least one node")
        self._size = nodes
        self._root: Path | None = None
        self.nodes: list[ApacheKafkaNode] = []

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(node.bootstrap_servers for node in self.nodes)

    def start(self) -> None:
        java, classpath = java_executable(), kafka_classpath()  # fail early, naming what is missing
        self._root = make_run_dir(RUN_DIR_PREFIX)  # removed at stop, or by the next `up` if this run dies
        (self._root / "log4j2.properties").write_text(runtime_file("log4j2.properties").read_text(encoding="utf-8"))
        quorum = [NodeAddress(node_id, free_port(), free_port()) for node_id in range(1, self._size + 1)]
        self.nodes = [ApacheKafkaNode(address, self._root, java, classpath) for address in quorum]
        try:
            self._format(new_cluster_id(), quorum)
            for node in self.nodes:
                node.launch()
            self.wait_until_serving()
        except BaseException:
            self.stop()
            raise

    def _format(self, cluster_id: str, quorum: list[NodeAddress]) -> None:
        formatting = []
        for node in self.nodes:
            node.configure(quorum)
            formatting.append((node, node.format_storage(cluster_id)))
        for node, process in formatting:
            try:
                code = process.wait(_FORMAT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                code = process.wait()
            if code != 0:
                raise EmbeddedServiceError(f"formatting Kafka node {node.node_id} failed: {node.log_tail()}")

    def wait_until_serving(self, timeout_s: float = _START_TIMEOUT_S) -> None:
        """Until every node answers Metadata listing every broker; EmbeddedServiceError with a log's tail
        if a node exits or the time runs out."""
        wait_until_listed(self.nodes, frozenset(node.node_id for node in self.nodes), timeout_s)

    def stop(self) -> None:
        """Stop every node at once (one by one, the last ones would wait for a quorum already gone), then
        remove the data."""
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        for node in self.nodes:
            node.begin_stop()
        for node in self.nodes:
            node.finish_stop(deadline)
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def __enter__(self) -> ApacheKafkaCluster:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
