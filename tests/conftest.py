"""Session-wide real services: one embedded broker and one Postgres cluster for the whole run.

Tests stay independent by naming their own topics, consumer groups, databases and tenant ids at
random. `KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` point the suite at external services instead.

The broker: `SYNCPIPE_TEST_BROKERS` names the embedded ones to run on, comma-separated (`tansu`, the
default, `apache`, or `tansu,apache`). Every test that reaches the broker through `kafka_bootstrap`
(so through `settings`) runs once per broker named, as `test_x[tansu]`, `test_x[apache]`; each broker
starts once per run, when its first test needs it.

`./dev test` runs the suite in two processes (pytest-xdist, `--dist loadgroup`), each with its own
brokers and Postgres. Tests marked with one `xdist_group` run one after another in one process:
WHOLE_MACHINE for those that start a cluster or a whole pipeline of their own and hold time bounds
under faults (two of them at once on two cores would be a test of the machine), JACKSON so that one
Jackson JVM serves its module.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import get_args

import asyncpg
import pytest

from runtime.postgres.migrate import migrate_url
from runtime.settings import BrokerName, Settings
from syncpipe.embedded import EmbeddedKafka, EmbeddedPostgres
from syncpipe.embedded.apache_kafka import ApacheKafkaCluster
from syncpipe.embedded.databases import scratch_database
from tests.workers.acks.flaky_platform import FlakyPlatform

WHOLE_MACHINE = pytest.mark.xdist_group("whole-machine")
JACKSON = pytest.mark.xdist_group("jackson")


def brokers_under_test() -> list[str]:
    """The brokers of SYNCPIPE_TEST_BROKERS; `external` alone when KAFKA_BOOTSTRAP_SERVERS names one."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return ["external"]
    names = [name.strip() for name in os.environ.get("SYNCPIPE_TEST_BROKERS", "tansu").split(",") if name.strip()]
    unknown = sorted(set(names) - set(get_args(BrokerName)))
    if unknown or not names:
        raise pytest.UsageError(f"SYNCPIPE_TEST_BROKERS: {unknown or 'empty'}; name tansu and/or apache")
    return names


@pytest.fixture(scope="session")
def tansu() -> Iterator[EmbeddedKafka]:
    """The embedded Tansu, for the whole run."""
    with EmbeddedKafka() as broker:
        yield broker


@pytest.fixture(scope="session")
def apache_kafka() -> Iterator[ApacheKafkaCluster]:
    """A one-node Apache Kafka, for the whole run (a test that stops or pauses its node restores it)."""
    with ApacheKafkaCluster(nodes=1) as cluster:
        yield cluster


@pytest.fixture(scope="session", params=brokers_under_test())
def broker_name(request: pytest.FixtureRequest) -> str:
    """The broker this test runs on (one of SYNCPIPE_TEST_BROKERS)."""
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def kafka_bootstrap(broker_name: str, request: pytest.FixtureRequest) -> str:
    """Where the test's broker is: the external one, or the embedded one `broker_name` names."""
    if broker_name == "external":
        return os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    broker: EmbeddedKafka | ApacheKafkaCluster = request.getfixturevalue(
        "apache_kafka" if broker_name == "apache" else "tansu"
    )
    return broker.bootstrap_servers


@pytest.fixture(scope="session")
def postgres_server_dsn() -> Iterator[str]:
    external = os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    with EmbeddedPostgres(durable=False) as postgres:
        yield postgres.dsn


@pytest.fixture
async def database_url(postgres_server_dsn: str) -> AsyncIterator[str]:
    """A fresh, empty database of its own for one test, dropped afterwards."""
    async with scratch_database(postgres_server_dsn, "t") as url:
        yield url


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    """`database_url`, migrated."""
    await migrate_url(database_url)
    return database_url


@pytest.fixture
async def db(migrated_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the test's migrated database (autocommit: each statement is visible at once)."""
    connection = await asyncpg.connect(migrated_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def platform(access_key: str, migrated_url: str) -> AsyncIterator[FlakyPlatform]:
    """The platform's ack callback, answering as each test tells it to."""
    async with FlakyPlatform(access_key, migrated_url) as platform:
        yield platform


@pytest.fixture
def access_key() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def settings(kafka_bootstrap: str, access_key: str) -> Settings:
    """Settings of one test: its own topics and consumer group on the shared broker (no database)."""
    run = uuid.uuid4().hex[:12]
    return Settings(
        kafka_bootstrap_servers=kafka_bootstrap,
        events_topic=f"events-{run}",
        dead_letter_topic=f"dlq-{run}",
        consumer_group=f"workers-{run}",
        topic_partitions=4,
        access_keys=(access_key,),  # type: ignore[arg-type]
        produce_timeout_s=5.0,
    )
