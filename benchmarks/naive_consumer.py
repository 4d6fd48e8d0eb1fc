"""The naive consumer the worker is compared with: one event per transaction, as a merchant writes it.

    python -m benchmarks.naive_consumer   (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL, SYNCPIPE_EVENTS_TOPIC,
                                          SYNCPIPE_CONSUMER_GROUP)

It does the same durable work per department change as the worker, into the same tables: look the
event id up (dedupe), upsert the department guarded by its version, record the event, queue its ack;
but for each message on its own, in its own transaction, with the client's defaults (auto-commit of
offsets). It handles the calls the apply benchmark sends (`singleOrgSync`) and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaConsumer

from runtime.settings import Settings
from schemas.timestamps import parse_platform_time


async def apply_one(connection: asyncpg.Connection, value: bytes, partition: int, offset: int) -> None:
    envelope = json.loads(value)
    call = envelope["call"]
    event_id = envelope["eventId"]
    version = parse_platform_time(call["timeStamp"])
    async with connection.transaction():
        if await connection.fetchval("SELECT 1 FROM events WHERE event_id = $1", event_id):
            return
        await connection.execute(
            "INSERT INTO departments (tenant_id, org_code, version, deleted, org_name, parent_code)"
            " VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (tenant_id, org_code) DO UPDATE SET version = EXCLUDED.version,"
            " deleted = EXCLUDED.deleted, org_name = EXCLUDED.org_name, parent_code = EXCLUDED.parent_code"
            " WHERE departments.version <= EXCLUDED.version",
            call["tenantId"],
            call["orgCode"],
            version,
            call["flag"] == 0,
            call.get("orgName", ""),
            call.get("parentCode", ""),
        )
        await connection.execute(
            "INSERT INTO events (event_id, tenant_id, interface, time_stamp, test_flag, status, accepted_at,"
            " kafka_partition, kafka_offset, call) VALUES ($1, $2, $3, $4, $5, 'applied', $6, $7, $8, $9::jsonb)",
            event_id,
            call["tenantId"],
            envelope["interface"],
            version,
            call["testFlag"],
            datetime.fromisoformat(envelope["acceptedAt"]),
            partition,
            offset,
            json.dumps(call, ensure_ascii=False),
        )
        ack = {"eventId": event_id, "tenantId": call["tenantId"], "status": "applied", "resultCode": "000000"}
        await connection.execute(
            "INSERT INTO ack_outbox (event_id, kafka_partition, kafka_offset, outcome, body)"
            " VALUES ($1, $2, $3, 'applied', $4::jsonb)",
            event_id,
            partition,
            offset,
            json.dumps(ack),
        )


async def consume(settings: Settings) -> None:
    assert settings.database_url is not None
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    consumer = AIOKafkaConsumer(
        settings.events_topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.consumer_group,
        auto_offset_reset="earliest",
        # Not a default: the harness sets it (a new group's first join waits half of it).
        session_timeout_ms=settings.session_timeout_ms,
    )
    await consumer.start()
    try:
        async for message in consumer:
            await apply_one(connection, message.value, message.partition, message.offset)
    finally:
        await consumer.stop()
        await connection.close()


def main() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(consume(Settings()))


if __name__ == "__main__":
    main()
