"""GET /v1/events/{eventId}/detail: envelope, payload with secrets redacted, history, acks, dead letters."""

from __future__ import annotations

import uuid

import asyncpg

from schemas.redaction import REDACTED
from tests.read_api.conftest import ReadApi
from tests.read_api.console.seed import apply_calls, call, dead_letter, record_of
from tests.read_api.seed import insert_event_part

CIPHERTEXT = "Q0lQSEVSVEVYVC1USEFULU1VU1QtTk9ULUxFQUs="


async def test_an_applied_application_shows_its_envelope_and_never_its_client_secret(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    result = await apply_calls(
        db, [call(tenant_id, "applicationSync", 5, flag=1, appId="app-1", clientId="client-1", clientSecret=CIPHERTEXT)]
    )
    [event] = result.finished
    response = await api.client.get(
        f"/v1/events/{event.event_id}/detail", headers={"Authorization": f"Bearer {api.token}"}
    )
    assert response.status == 200
    assert CIPHERTEXT not in await response.text()
    body = await response.json()
    assert body["eventId"] == event.event_id
    assert (body["tenantId"], body["interface"], body["status"], body["reason"]) == (
        tenant_id,
        "applicationSync",
        "applied",
        None,
    )
    assert body["timeStamp"] == "20260301120000005"
    assert body["testFlag"] == 0
    assert body["kafka"] == {"partition": 0, "offset": event.offset}
    assert body["acceptedAt"] is not None
    assert body["finishedAt"] is not None
    assert body["payload"]["clientSecret"] == REDACTED
    assert (body["payload"]["appId"], body["payload"]["clientId"]) == ("app-1", "client-1")
    assert (body["payloadText"], body["payloadTruncated"]) == (None, False)
    [ack] = body["acks"]
    assert (ack["state"], ack["status"], ack["resultCode"], ack["attempts"], ack["sentAt"]) == (
        "pending",
        "applied",
        "000000",
        0,
        None,
    )
    assert [step["status"] for step in body["history"]] == ["accepted", "applied", "ack_owed"]
    assert body["deadLetters"] == []


async def test_a_sent_ack_shows_in_the_history_with_its_attempts(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    [event] = (await apply_calls(db, [call(tenant_id, "singleOrgSync", 1, flag=1, orgCode="A")])).finished
    await db.execute(
        "UPDATE ack_outbox SET sent_at = now() + interval '1 second', attempts = 2, last_error = 'HTTP 503'"
        " WHERE event_id = $1",
        event.event_id,
    )
    _, body = await api.get(f"/v1/events/{event.event_id}/detail")
    [ack] = body["acks"]
    assert (ack["state"], ack["attempts"], ack["lastError"], ack["nextAttemptAt"]) == ("sent", 2, "HTTP 503", None)
    assert body["history"][-1]["status"] == "ack_sent"
    assert "2 attempts" in body["history"][-1]["note"]


async def test_a_dead_lettered_record_has_no_payload_and_names_its_letter(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    record = record_of(call(tenant_id, "singleOrgSync", 1, flag=1, orgCode="A"))
    await dead_letter(db, record, "failed 5 times: RaiseError('boom')")
    event_id = dict(record.headers)["syncpipe-event-id"].decode()
    _, body = await api.get(f"/v1/events/{event_id}/detail")
    assert (body["status"], body["reason"]) == ("dead_lettered", "failed 5 times: RaiseError('boom')")
    assert body["payload"] is None  # a dead-lettered record's call is in its letter, not in `events`
    [letter] = body["deadLetters"]
    assert (letter["state"], letter["failures"], letter["retryStatus"]) == ("dead", 1, None)
    assert "dead_lettered" in [step["status"] for step in body["history"]]


async def test_an_event_still_arriving_in_parts_is_accepted(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    event_id = uuid.uuid4().hex
    await insert_event_part(db, event_id, tenant_id, 0)
    await insert_event_part(db, event_id, tenant_id, 1)
    status, body = await api.get(f"/v1/events/{event_id}/detail")
    assert status == 200
    assert (body["status"], body["tenantId"], body["partsWaiting"], body["payload"]) == ("accepted", tenant_id, 2, None)
    assert body["history"] == []


async def test_an_unknown_event_is_not_found(api: ReadApi) -> None:
    status, body = await api.get(f"/v1/events/{uuid.uuid4().hex}/detail")
    assert status == 404
    assert "not found" in body["error"]
    status, _ = await api.get(f"/v1/events/{'x' * 65}/detail")
    assert status == 400
