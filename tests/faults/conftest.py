"""Each fault scenario gets a pipeline of its own: a fresh broker, Postgres server and processes."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from syncpipe.simulation.ack_receiver import AckReceiver, serving_acks
from tests.faults.cluster import Cluster


@dataclass(frozen=True)
class Rig:
    """A cluster not yet started, and the platform's ack endpoint its acker sends to."""

    cluster: Cluster
    receiver: AckReceiver


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    access_key = secrets.token_urlsafe(24)
    receiver = AckReceiver(access_key)
    async with serving_acks(receiver, "127.0.0.1", 0) as ack_url:
        cluster = Cluster(tmp_path, access_key, ack_url)
        try:
            yield Rig(cluster, receiver)
        finally:
            await cluster.close()
