"""Dead letters on the real broker and Postgres: kept raw by the worker, retried after a fix, dropped."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

import schemas.envelope
import workers.applier.batch
from runtime.settings import Settings
from runtime.topics import ensure_topics
from schemas.calls import AnyCall, Interface, parse_call
from schemas.envelope import HEADER_PART, EventEnvelope
from schemas.exceptions import InvalidCall
from schemas.instance_envelope import HEADER_SUBJECT, INSTANCE_SUBJECT
from syncpipe.simulation.model import expected_state
from tests.workers.advisory_locks import waits_behind
from tests.workers.pipeline import publish, read_snapshot, running_worker, wait_for_events
from tests.workers.replay.recovery_fixtures import SMALL_RECORDS, DiscardedLetters, dump_tables
from workers.applier.batch import BatchResult, apply_batch
from workers.applier.dead_letter_archive import decode_headers, store_dead_letters
from workers.applier.instance_store import lock_instances
from workers.applier.records import ConsumedRecord, DeadLetter
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


def crashing_on(interface: Interface) -> Callable[[Any, AnyCall], Any]:
    """The rules of a release with a bug that crashes on every call of one interface."""

    def apply(state: Any, call: AnyCall) -> Any:
        if call.interface is interface:
            raise RuntimeError(f"a rule crashed on {interface.value}")
        return apply_call(state, call)

    return apply


@pytest.mark.parametrize("redelivered", [False, True], ids=["retried-at-once", "retried-after-a-redelivery"])
async def test_an_upload_in_parts_that_fails_to_apply_is_dead_lettered_whole_and_retried_to_applied(
    settings: Settings,
    migrated_url: str,
    connection: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    redelivered: bool,
) -> None:
    """The rules fail on a full sync sent in parts. The record that fails on its own is the part that
    completes the upload (the halves of the split batch committed the others to `event_parts`): its
    dead letter holds the whole envelope and no part is left waiting, so a fixed release retries it to
    applied from the letter alone, even after its records were delivered again (at least once: an
    offset commit lost, a crash after the dead letter), which assembles the upload and deletes its parts."""
    tenant = f"t-parts-{uuid.uuid4().hex[:8]}"
    calls = history(tenant)[:2]  # the tenant, then a full sync of 40 departments: several records
    worker_settings = settings.model_copy(
        update={"database_url": SecretStr(migrated_url), "max_record_bytes": SMALL_RECORDS, "max_attempts": 2}
    )
    ids = await publish(worker_settings, calls)  # before the worker starts: one batch holds every part
    with monkeypatch.context() as buggy_release:
        buggy_release.setattr(workers.applier.batch, "apply_call", crashing_on(Interface.ALL_ORG_SYNC))
        async with running_worker(worker_settings):
            statuses = await wait_for_events(migrated_url, ids)
    assert [statuses[event] for event in ids] == ["applied", "dead_lettered"]

    letter = await connection.fetchrow(
        "SELECT dead_letter_id, reason, joined_parts, record_value, headers::text AS headers"
        " FROM dead_letters WHERE event_id = $1",
        ids[1],
    )
    assert letter["reason"].startswith("failed 2 times: RuntimeError('a rule crashed on allOrgSync')")
    assert letter["joined_parts"]
    assert EventEnvelope.model_validate_json(letter["record_value"]).parsed_call() == calls[1]
    assert HEADER_PART not in dict(decode_headers(letter["headers"]))
    assert await connection.fetchval("SELECT count(*) FROM event_parts") == 0  # no upload left waiting

    if redelivered:  # every record read again, by a worker of the fixed release
        again = asyncio.Event()

        async def observe(result: BatchResult) -> None:
            if result.redeliveries:
                again.set()

        fresh_group = worker_settings.model_copy(update={"consumer_group": f"{settings.consumer_group}-again"})
        async with running_worker(fresh_group, observe):
            await asyncio.wait_for(again.wait(), timeout=60)
        assert await connection.fetchval("SELECT status FROM events WHERE event_id = $1", ids[1]) == "dead_lettered"

    retried = await retry_dead_letter(connection, letter["dead_letter_id"], dry_run=False)
    assert (retried.event_id, retried.result) == (ids[1], "applied")
    assert await read_snapshot(migrated_url, tenant) == expected_state(calls)[tenant]
    assert await connection.fetchval("SELECT count(*) FROM event_parts") == 0


async def test_a_retry_takes_the_instance_lock_before_the_letter_as_a_worker_dead_lettering_it_does(
    connection: asyncpg.Connection, migrated_url: str
) -> None:
    """A worker that fails the same record again holds the instance's lock, then writes the record's letter;
    a retry that locked the letter first and then waited for the instance would deadlock with it."""
    instance, event = f"inst-{uuid.uuid4().hex[:12]}", f"broken-{uuid.uuid4().hex}"
    headers = ((HEADER_SUBJECT, INSTANCE_SUBJECT), ("syncpipe-event-id", event.encode()))
    record = ConsumedRecord("events", 0, 7, instance.encode(), b"{not json", headers)
    await apply_batch(connection, [record], DiscardedLetters())
    (letter,) = await waiting_ids(connection)
    holder, retrier = await asyncpg.connect(migrated_url), await asyncpg.connect(migrated_url)
    try:
        holding = holder.transaction()
        await holding.start()
        await lock_instances(holder, [instance])
        held_by = await holder.fetchval("SELECT pg_backend_pid()")
        retrying = asyncio.create_task(retry_dead_letter(retrier, letter, dry_run=False))
        waiting = await waits_behind(connection, held_by, retrying)
        assert not retrying.done(), "retried while another writer held the instance lock"
        assert waiting, "the retry never waited for the instance lock"
        # The worker, under the instance lock, writes the letter the retry is about to lock.
        await store_dead_letters(holder, [DeadLetter(event, "", "failed again", record)])
        await holding.commit()
        outcome = await asyncio.wait_for(retrying, 30)
    finally:
        if holder.is_in_transaction():
            await holder.execute("ROLLBACK")
        await holder.close()
        await retrier.close()
    assert (outcome.event_id, outcome.result) == (event, "dead_lettered")
    rows = await connection.fetch("SELECT status, tenant_id, instance_id FROM events WHERE event_id = $1", event)
    assert [tuple(row) for row in rows] == [("dead_lettered", "", instance)]
