"""GET /v1/events/{eventId}: how an event ended, `accepted` while its parts arrive, 404 if never seen."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.read_api.conftest import ReadApi
from tests.read_api.seed import at, insert_ack, insert_event, insert_event_part


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
        "ack": None,  # no ack row yet: written by the applier with the event, seeded below in other tests
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
        "ack": None,
    }


async def test_the_events_row_wins_over_leftover_parts(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str, event_id: str
) -> None:
    await insert_event_part(db, event_id, tenant_id, 0)
    await insert_event(db, event_id, tenant_id, "stale")
    _, body = await api.get(f"/v1/events/{event_id}")
    assert body["status"] == "stale"


async def test_an_ack_still_owed_is_pending_with_its_attempts_and_last_error(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str, event_id: str
) -> None:
    await insert_event(db, event_id, tenant_id, "applied")
    await insert_ack(db, event_id, offset=1, sent=False, attempts=3, last_error="HTTP 500: busy")
    _, body = await api.get(f"/v1/events/{event_id}")
    assert body["ack"] == {"state": "pending", "attempts": 3, "lastError": "HTTP 500: busy"}


async def test_a_delivered_ack_is_sent_and_keeps_what_delayed_it(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str, event_id: str
) -> None:
    await insert_event(db, event_id, tenant_id, "applied")
    await insert_ack(db, event_id, offset=1, sent=True, attempts=2, last_error="no answer within 10 s")
    _, body = await api.get(f"/v1/events/{event_id}")
    assert body["ack"] == {"state": "sent", "attempts": 2, "lastError": "no answer within 10 s"}


async def test_with_several_acks_the_one_still_owed_is_shown(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str, event_id: str
) -> None:
    """A re-sent call owes an ack of its own: the event is acknowledged only once all went out."""
    await insert_event(db, event_id, tenant_id, "applied", duplicates=2)
    await insert_ack(db, event_id, offset=1, sent=True, attempts=1)
    await insert_ack(db, event_id, offset=2, sent=False, attempts=4, last_error="HTTP 503: ")
    await insert_ack(db, event_id, offset=3, sent=False, attempts=0)
    _, pending = await api.get(f"/v1/events/{event_id}")
    await db.execute("UPDATE ack_outbox SET sent_at = now() WHERE event_id = $1", event_id)
    _, sent = await api.get(f"/v1/events/{event_id}")

    assert pending["ack"] == {"state": "pending", "attempts": 4, "lastError": "HTTP 503: "}
    assert sent["ack"] == {"state": "sent", "attempts": 1, "lastError": None}


async def test_an_unknown_event_is_not_found(api: ReadApi, db: asyncpg.Connection, event_id: str) -> None:
    await insert_event(db, uuid.uuid4().hex, "someone", "applied")
    status, body = await api.get(f"/v1/events/{event_id}")
    assert status == 404
    assert event_id in body["error"]
