"""Session-wide real services: one embedded broker and one Postgres cluster for the whole run.

Tests stay independent by naming their own topics, consumer groups, databases and tenant ids at
random. `KAFKA_BOOTSTRAP_SERVERS` / `DATABASE_URL` point the suite at external services instead.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from syncpipe.embedded import EmbeddedKafka, EmbeddedPostgres
from syncpipe.settings import Settings


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    with EmbeddedKafka() as kafka:
        yield kafka.bootstrap_servers


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
    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(postgres_server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base, _, _ = postgres_server_dsn.rpartition("/")
    yield f"{base}/{name}"
    admin = await asyncpg.connect(postgres_server_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


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
