"""A three-node Apache Kafka for the whole run (the one-node cluster is the root conftest's `apache_kafka`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncpipe.embedded.apache_kafka import ApacheKafkaCluster


@pytest.fixture(scope="session")
def apache_cluster() -> Iterator[ApacheKafkaCluster]:
    """Three combined broker+controller nodes. A test that kills or pauses nodes brings them back."""
    with ApacheKafkaCluster(nodes=3) as cluster:
        yield cluster
