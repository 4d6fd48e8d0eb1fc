"""Dead letters on the real broker and Postgres: kept raw by the worker, retried after a fix, dropped."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

import schemas.envelope
import workers.applier.batch
from schemas.calls import AnyCall, Interface, parse_call
from schemas.exceptions import InvalidCall
from syncpipe.settings import Settings
from syncpipe.simulation.model import expected_state
from syncpipe.topics import ensure_topics
from tests.workers.pipeline import publish, read_snapshot, running_worker, wait_for_events
from tests.workers.replay.recovery_fixtures import SMALL_RECORDS, dump_tables
from workers.domain.rules import apply_call
from workers.replay.dead_letters import drop_dead_letters, retry_dead_letter, waiting_ids

pytestmark = pytest.mark.integration


def history(tenant: str) -> list[AnyCall]:
    def call(interface: str, ms: int, **fields: Any) -> AnyCall:
        return parse_call(interface, {"tenantId": tenant, "timeStamp": f"20260301000000{ms:03d}", **fields})

    big = [{"orgCode": f"BIG-{n:02d}", "orgName": f"部门 {n}", "parentCode": ""} for n in range(40)]
    return [
        call("tenantSync", 100, flag=1, name="Acme", tenantCode="acme"),
        call("allOrgSync", 200, orgInfoList=big),
        call("singleOrgSync", 300, flag=1, orgCode="REFUSED", orgName="refused until fixed", parentCode="BIG-01"),
        call(
            "authSync", 400, flag=1, appId="app1", userList=[{"userName": "zs", "name": "张三", "orgCode": "REFUSED"}]
        ),
    ]


def refusing(interface: Interface | str, body: Any) -> AnyCall:
    """The validation of a release with a bug: it refuses full syncs and one department code."""
    if interface == "allOrgSync" or body.get("orgCode") == "REFUSED":
        raise InvalidCall("orgCode", "refused by the buggy release")
    return parse_call(interface, body)


def crashing_for(tenant: str) -> Callable[[Any, AnyCall], Any]:
    """The rules of a release with a bug that crashes on one tenant (the worker retries, then dead-letters)."""

    def apply(state: Any, call: AnyCall) -> Any:
        if call.tenantId == tenant:
            raise RuntimeError("a rule crashed on this tenant")
        return apply_call(state, call)

    return apply


async def send_garbage(settings: Settings, tenant: str) -> int:
    """A record no release can read; returns its offset."""
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(settings.events_topic, b"not json", key=tenant.encode())
    finally:
        await producer.stop()
    offset: int = sent.offset
    return offset


async def test_dead_letters_are_kept_raw_and_a_fixed_release_retries_them_to_applied(
    settings: Settings, migrated_url: str, connection: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused, crashing = f"t-dlq-{uuid.uuid4().hex[:8]}", f"t-crash-{uuid.uuid4().hex[:8]}"
    calls = history(refused) + history(crashing)[:1]
    worker_settings = settings.model_copy(
        update={"database_url": SecretStr(migrated_url), "max_record_bytes": SMALL_RECORDS, "max_attempts": 1}
    )
    with monkeypatch.context() as buggy_release:
        buggy_release.setattr(schemas.envelope, "parse_call", refusing)
        buggy_release.setattr(workers.applier.batch, "apply_call", crashing_for(crashing))
        garbage_offset = await send_garbage(worker_settings, refused)
        async with running_worker(worker_settings):
            ids = await publish(worker_settings, calls)
            statuses = await wait_for_events(migrated_url, ids)
    assert [statuses[event] for event in ids] == ["applied", *["dead_lettered"] * 2, "applied", "dead_lettered"]

    letters = {
        row["event_id"]: row
        for row in await connection.fetch(
            "SELECT dead_letter_id, event_id, reason, joined_parts, state, record_value, source_offset"
            " FROM dead_letters ORDER BY dead_letter_id"
        )
    }
    assert len(letters) == 4
    assert letters[ids[1]]["joined_parts"]  # the full sync came in parts and is kept whole
    assert "refused by the buggy release" in letters[ids[2]]["reason"]
    assert "a rule crashed" in letters[ids[4]]["reason"]
    [unreadable] = [row for event, row in letters.items() if event not in ids]
    assert (unreadable["record_value"], unreadable["source_offset"]) == (b"not json", garbage_offset)

    monkeypatch.setattr(schemas.envelope, "parse_call", refusing)  # still the buggy release
    still_broken = await retry_dead_letter(connection, letters[ids[2]]["dead_letter_id"], dry_run=False)
    assert (still_broken.result, still_broken.reason) == ("dead_lettered", "orgCode: refused by the buggy release")
    assert (
        await connection.fetchval(
            "SELECT failures FROM dead_letters WHERE dead_letter_id = $1", letters[ids[2]]["dead_letter_id"]
        )
        == 2
    )

    monkeypatch.undo()  # the fixed release
    before = await dump_tables(connection)
    waiting = await waiting_ids(connection)
    dry = [await retry_dead_letter(connection, letter, dry_run=True) for letter in waiting]
    assert await dump_tables(connection) == before
    retried = [await retry_dead_letter(connection, letter, dry_run=False) for letter in waiting]
    assert [outcome.result for outcome in retried] == [outcome.result for outcome in dry]
    results = {outcome.event_id: outcome.result for outcome in retried}
    assert results == {ids[1]: "applied", ids[2]: "applied", ids[4]: "applied", unreadable["event_id"]: "dead_lettered"}

    assert await read_snapshot(migrated_url, refused) == expected_state(calls)[refused]
    assert await read_snapshot(migrated_url, crashing) == expected_state(calls)[crashing]
    # The platform heard "dead_lettered" first; a retry that applies owes it the new outcome too.
    for event in (ids[1], ids[2], ids[4]):
        acked = await connection.fetch(
            "SELECT body->>'status' AS status FROM ack_outbox WHERE event_id = $1 ORDER BY ack_id", event
        )
        assert [row["status"] for row in acked] == ["dead_lettered", "applied"], event
    assert await waiting_ids(connection) == [unreadable["dead_letter_id"]]

    before = await dump_tables(connection)
    [would] = await drop_dead_letters(connection, [unreadable["dead_letter_id"]], dry_run=True)
    assert would.result == "dropped"
    assert await dump_tables(connection) == before
    dropped, missing = await drop_dead_letters(connection, [unreadable["dead_letter_id"], 10**9], dry_run=False)
    assert (dropped.result, missing.result) == ("dropped", "not_found")
    assert await waiting_ids(connection) == []
    assert (
        await connection.fetchval("SELECT status FROM events WHERE event_id = $1", unreadable["event_id"])
        == "dead_lettered"
    )  # kept for audit
    again = await retry_dead_letter(connection, unreadable["dead_letter_id"], dry_run=False)
    assert again.result == "skipped"
