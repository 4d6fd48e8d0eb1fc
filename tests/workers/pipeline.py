"""Helpers for tests that run real workers on the real broker and Postgres."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

import asyncpg

from gateway.publisher import KafkaEventPublisher
from read_api import queries
from runtime.settings import Settings
from schemas.calls import AnyCall
from schemas.envelope import EventEnvelope, encode_event
from schemas.instance_envelope import InstanceEnvelope, encode_instance_event
from syncpipe.simulation.instance_model import SignedCall
from syncpipe.simulation.snapshot import TenantSnapshot
from tests.running import running
from workers.applier.consumer import BatchObserver
from workers.applier.instance_store import load_instances
from workers.applier.service import serve_worker
from workers.domain.instance_state import InstanceState
from workers.domain.views import render_applications, render_departments, render_tenant, render_users


async def publish(settings: Settings, calls: Iterable[AnyCall]) -> list[str]:
    """Write each call to the events topic as the gateway does; return their event ids."""
    ids = []
    async with KafkaEventPublisher(settings) as publisher:
        for call in calls:
            envelope = EventEnvelope.from_call(call, datetime.now(UTC))
            await publisher.publish(encode_event(envelope, settings.max_record_bytes))
            ids.append(envelope.eventId)
    return ids


@contextlib.asynccontextmanager
async def running_worker(settings: Settings, observer: BatchObserver | None = None) -> AsyncIterator[None]:
    """A worker in this event loop; stopped gracefully (finishing its batch) on exit."""
    async with running(lambda ready, stop: serve_worker(settings, ready, stop, observer), graceful=True):
        yield


async def wait_for_events(database_url: str, event_ids: Iterable[str], timeout_s: float = 60.0) -> dict[str, str]:
    """Poll until every event id has its row; return id -> status."""
    wanted = sorted(set(event_ids))
    deadline = time.monotonic() + timeout_s
    connection = await asyncpg.connect(database_url)
    try:
        while True:
            rows = await connection.fetch("SELECT event_id, status FROM events WHERE event_id = ANY($1)", wanted)
            if len(rows) == len(wanted) or time.monotonic() > deadline:
                found = {row["event_id"]: row["status"] for row in rows}
                missing = [event for event in wanted if event not in found]
                assert not missing, f"{len(missing)} events never finished, e.g. {missing[:3]}"
                return found
            await asyncio.sleep(0.1)
    finally:
        await connection.close()


async def read_snapshot(database_url: str, tenant_id: str) -> TenantSnapshot:
    """The tenant's state in Postgres, read and rendered exactly as the read API serves it."""
    connection = await asyncpg.connect(database_url)
    try:
        tenant = await queries.fetch_tenant(connection, tenant_id)
        departments = render_departments(await queries.fetch_live_departments(connection, tenant_id))
        users = await queries.fetch_live_users(connection, tenant_id)
        authorizations = await queries.fetch_granted_authorizations(connection, tenant_id)
        applications = await queries.fetch_live_applications(connection, tenant_id)
    finally:
        await connection.close()
    return TenantSnapshot(
        tenant=render_tenant(tenant_id, tenant) if tenant else None,
        departments=departments,
        users=render_users(users, authorizations, {d["orgCode"] for d in departments}),
        applications=render_applications(applications),
    )


async def publish_instance_calls(settings: Settings, calls: Iterable[SignedCall]) -> list[str]:
    """Write each instance call to the events topic as the gateway does; return their event ids."""
    ids = []
    async with KafkaEventPublisher(settings) as publisher:
        for signed in calls:
            envelope = InstanceEnvelope.from_call(signed.call, signed.signed_at_ms, datetime.now(UTC))
            await publisher.publish([encode_instance_event(envelope)])
            ids.append(envelope.eventId)
    return ids


async def read_instances(database_url: str, instance_ids: Iterable[str]) -> dict[str, InstanceState]:
    """The instances as stored (absent ones left out)."""
    connection = await asyncpg.connect(database_url)
    try:
        states = await load_instances(connection, set(instance_ids))
    finally:
        await connection.close()
    return {instance_id: state for instance_id, state in states.items() if state.changes}
