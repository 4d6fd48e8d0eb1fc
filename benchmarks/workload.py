"""The calls the benchmarks send: small incremental department changes and large full snapshots.

Deterministic and cheap to build. Incremental changes are `singleOrgSync` adds and renames spread
over a number of tenants (about one in four touches a department an earlier change created, so
the version-guarded upsert has rows to conflict with); timestamps rise per tenant. A full snapshot
is an `allOrgSync` of a tree: every department hangs below an earlier one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.calls import Interface, parse_call
from schemas.envelope import EventEnvelope, KafkaRecord, encode_event
from schemas.timestamps import PLATFORM_TZ, format_platform_time

_EPOCH = datetime(2025, 3, 3, 9, 0, tzinfo=PLATFORM_TZ)
# Departments each tenant's incremental changes draw from: with 4 changes per code on average a
# quarter of the changes land on a department that already exists.
_CODES_PER_TENANT_SHARE = 0.75


def run_tag() -> str:
    """A prefix that keeps the tenants of one benchmark run apart from every other run's."""
    return uuid.uuid4().hex[:8]


def department_change(tag: str, serial: int, tenants: int) -> dict[str, Any]:
    """The wire body of the `serial`-th incremental change of a run over `tenants` tenants."""
    tenant = serial % tenants
    round_ = serial // tenants
    code = int(round_ * _CODES_PER_TENANT_SHARE)
    return {
        "instanceId": f"inst-{tag}",
        "tenantId": f"bench-{tag}-{tenant:05d}",
        "testFlag": 0,
        "timeStamp": format_platform_time(_EPOCH + timedelta(milliseconds=round_ + 1)),
        "orgCode": f"D{code:06d}",
        "orgName": f"Department {code} r{round_}",
        "parentCode": f"D{code // 4:06d}" if code else "",
        "flag": 1 if round_ == 0 or int((round_ - 1) * _CODES_PER_TENANT_SHARE) != code else 2,
    }


def department_changes(tag: str, count: int, tenants: int) -> Iterator[dict[str, Any]]:
    for serial in range(count):
        yield department_change(tag, serial, tenants)


def full_snapshot(tag: str, departments: int) -> dict[str, Any]:
    """An `allOrgSync` body of one tenant with `departments` departments (~100 bytes each)."""
    org_info = [
        {
            "orgCode": f"O{index:07d}",
            "orgName": f"部门 {index} Department",
            "parentCode": f"O{(index - 1) // 8:07d}" if index else "",
        }
        for index in range(departments)
    ]
    return {
        "instanceId": f"inst-{tag}",
        "tenantId": f"bench-full-{tag}-{departments}",
        "testFlag": 0,
        "timeStamp": format_platform_time(_EPOCH),
        "orgInfoList": org_info,
    }


def records_of(interface: Interface, bodies: Iterator[dict[str, Any]], max_record_bytes: int) -> list[KafkaRecord]:
    """The Kafka records the gateway would write for these calls (validated and encoded by schemas/)."""
    accepted_at = datetime.now(UTC)
    records: list[KafkaRecord] = []
    for body in bodies:
        envelope = EventEnvelope.from_call(parse_call(interface, body), accepted_at)
        records.extend(encode_event(envelope, max_record_bytes))
    return records


def compact_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
