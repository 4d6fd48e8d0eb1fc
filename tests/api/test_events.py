"""GET /v1/events/{eventId}: how an event ended, `accepted` while its parts arrive, 404 if never seen."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.api.conftest import ReadApi
from tests.api.seed import at, insert_event, insert_event_part


@pytest.fixture
def event_id() -> str:
    return uuid.uuid4().hex


async def test_an_applied_event(api: ReadApi, db: asyncpg.Connection, tenant_id: str, event_id: str) -> None:
    await insert_event(db, event_id, tenant_id, "applied", duplicates=2, finished_at=at(1500))
    status, body = await api.get(f"/v1/events/{event_id}")
    assert status == 200
    assert body == {
        "eventId": event_id,
        "interface": "singleOrgSync",
        "tenantId": tenant_id,
        "status": "applied",
        "reason": None,
        "timeStamp": "20250301120000000",  # T0 in the platform's UTC+8 format, as the call carried it
        "duplicates": 2,
        "finishedAt": "2025-03-01T04:00:01.500000+00:00",
    }


async def test_a_dead_lettered_event_says_why(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str, event_id: str
) -> None:
    await insert_event(db, event_id, tenant_id, "dead_lettered", reason="orgInfoList: not a list")
    _, body = await api.get(f"/v1/events/{event_id}")
    assert (body["status"], body["reason"]) == ("dead_lettered", "orgInfoList: not a list")


async def test_an_event_being_assembled_is_accepted(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str, event_id: str
) -> None:
    await insert_event_part(db, event_id, tenant_id, 0)
    await insert_event_part(db, event_id, tenant_id, 1)
    status, body = await api.get(f"/v1/events/{event_id}")
    assert status == 200
    assert body == {
        "eventId": event_id,
        "interface": None,
        "tenantId": tenant_id,
        "status": "accepted",
        "reason": None,
        "timeStamp": None,
        "duplicates": 0,
        "finishedAt": None,
    }


async def test_the_events_row_wins_over_leftover_parts(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str, event_id: str
) -> None:
    await insert_event_part(db, event_id, tenant_id, 0)
    await insert_event(db, event_id, tenant_id, "stale")
    _, body = await api.get(f"/v1/events/{event_id}")
    assert body["status"] == "stale"


async def test_an_unknown_event_is_not_found(api: ReadApi, db: asyncpg.Connection, event_id: str) -> None:
    await insert_event(db, uuid.uuid4().hex, "someone", "applied")
    status, body = await api.get(f"/v1/events/{event_id}")
    assert status == 404
    assert event_id in body["error"]
