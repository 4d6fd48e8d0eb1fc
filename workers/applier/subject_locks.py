"""The advisory lock of what a record's event belongs to, for writers that may hold only the record.

Every writer of an event's `events` row looks it up and writes it under the lock of the event's subject
(workers/applier/event_log.py): a sync call's tenant (`lock_tenants`), an instance call's instance
(`lock_instances`). A record that cannot be decoded or applied has no envelope to ask, but its headers
say which kind of call it is and its key names the subject (the gateway keys a sync call by its tenant,
an instance call by its instance), as `undecodable_event` reads them.
"""

from __future__ import annotations

import asyncpg

from schemas.instance_envelope import is_instance_record
from workers.applier.instance_store import lock_instances
from workers.applier.records import ConsumedRecord
from workers.applier.state_store import lock_tenants


async def lock_subject_of(connection: asyncpg.Connection, record: ConsumedRecord) -> None:
    """Take, until this transaction ends, the lock every other writer of the record's events takes."""
    subject = (record.key or b"").decode(errors="replace")
    if is_instance_record(record.headers):
        await lock_instances(connection, [subject])
    else:
        await lock_tenants(connection, [subject])
