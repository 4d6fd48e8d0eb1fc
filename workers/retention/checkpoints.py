"""Per-tenant checkpoints: every pruned event of a tenant, folded into one state.

Before a day of `events` is dropped, the applied and stale calls it archives are applied, tenant by
tenant in `timeStamp` order, to that tenant's checkpoint (a fresh state for the first), with the
domain rules the workers use. The checkpoint is therefore not a copy of the live state but what the
pruned history alone produces: `syncpipe rebuild` starts from it and applies the retained events on
top, which by the convergence property (SPEC §5: any order, any duplicates) gives what a rebuild
from the whole history would give. A live state damaged after the pruned events were applied (rows
deleted by hand, a bad deploy) is repaired by a rebuild as before; only calls that no longer
validate cannot be folded: they are listed in the checkpoint and a rebuild of that tenant refuses.

Folding is idempotent: a tenant whose checkpoint already covers a partition (`folded_before` at or
past its end) is skipped, so a prune that stopped between folding and dropping is simply run again.
The state is stored compactly (versions as microseconds since the epoch, records as arrays).
Instance calls (SPEC §9: no tenant) are folded per instance instead (workers/retention/instance_checkpoints.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import asyncpg

from schemas.calls import parse_call
from schemas.exceptions import InvalidCall
from workers.domain.records import (
    ApplicationRecord,
    AuthorizationRecord,
    DepartmentRecord,
    Floors,
    TenantRecord,
    UserRecord,
)
from workers.domain.rules import apply_call
from workers.domain.tenant_state import TenantState

# The events whose calls shaped the state: a stale call can still raise a floor. Not `test` (changes
# nothing), `dead_lettered` (never applied) or `duplicate` (never a row of its own).
FOLDED_STATUSES = ("applied", "stale")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FORMAT = 1
# Tenants folded per transaction: bounds the calls and states held in memory at once.
_TENANTS_PER_GROUP = 100


class Checkpoint(NamedTuple):
    tenant_id: str
    folded_before: datetime  # every applied or stale event that finished before this is in `state`
    events_folded: int
    state: TenantState
    unreadable: list[tuple[str, str]]  # (event id, why) of calls that could not be folded


@dataclass
class FoldReport:
    tenants: int = 0
    events: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)


async def load_checkpoint(connection: asyncpg.Connection, tenant_id: str) -> Checkpoint | None:
    row = await connection.fetchrow(
        "SELECT folded_before, events_folded, state::text AS state, unreadable::text AS unreadable"
        " FROM tenant_checkpoints WHERE tenant_id = $1",
        tenant_id,
    )
    if row is None:
        return None
    unreadable = [(event_id, why) for event_id, why in json.loads(row["unreadable"])]
    return Checkpoint(
        tenant_id, row["folded_before"], row["events_folded"], decode_state(tenant_id, row["state"]), unreadable
    )


async def fold_partition(connection: asyncpg.Connection, partition: str, folded_before: datetime) -> FoldReport:
    """Fold the applied and stale events of `partition` (every one finished before `folded_before`)
    into their tenants' checkpoints; one transaction per group of tenants."""
    report = FoldReport()
    tenants = [
        row["tenant_id"]
        for row in await connection.fetch(
            f"SELECT DISTINCT e.tenant_id FROM {partition} e"
            " WHERE e.tenant_id <> '' AND e.status = ANY($1::text[]) AND e.call IS NOT NULL AND NOT EXISTS"
            " (SELECT FROM tenant_checkpoints c WHERE c.tenant_id = e.tenant_id AND c.folded_before >= $2)"
            " ORDER BY 1",
            list(FOLDED_STATUSES),
            folded_before,
        )
    ]
    for group in _chunks(tenants, _TENANTS_PER_GROUP):
        async with connection.transaction():
            await _fold_group(connection, partition, folded_before, group, report)
    return report


async def _fold_group(
    connection: asyncpg.Connection, partition: str, folded_before: datetime, tenants: list[str], report: FoldReport
) -> None:
    stored = {
        row["tenant_id"]: row
        for row in await connection.fetch(
            "SELECT tenant_id, state::text AS state, events_folded, unreadable::text AS unreadable"
            " FROM tenant_checkpoints WHERE tenant_id = ANY($1::text[])",
            tenants,
        )
    }
    states = {
        tenant: decode_state(tenant, stored[tenant]["state"]) if tenant in stored else TenantState(tenant)
        for tenant in tenants
    }
    folded = {tenant: stored[tenant]["events_folded"] if tenant in stored else 0 for tenant in tenants}
    unreadable: dict[str, list[list[str]]] = {
        tenant: json.loads(stored[tenant]["unreadable"]) if tenant in stored else [] for tenant in tenants
    }
    rows = await connection.fetch(
        f"SELECT tenant_id, event_id, interface, call::text AS call FROM {partition}"
        " WHERE tenant_id = ANY($1::text[]) AND status = ANY($2::text[]) AND call IS NOT NULL"
        " ORDER BY tenant_id, time_stamp, accepted_at, event_id",
        tenants,
        list(FOLDED_STATUSES),
    )
    for row in rows:
        try:
            call = parse_call(row["interface"], json.loads(row["call"]))
        except InvalidCall as exc:
            unreadable[row["tenant_id"]].append([row["event_id"], str(exc)])
            report.unreadable.append((row["event_id"], str(exc)))
            continue
        apply_call(states[row["tenant_id"]], call)
        folded[row["tenant_id"]] += 1
        report.events += 1
    await connection.execute(
        "INSERT INTO tenant_checkpoints (tenant_id, folded_before, events_folded, state, unreadable, written_at)"
        " SELECT t, $2, n, s::jsonb, u::jsonb, now()"
        " FROM unnest($1::text[], $3::bigint[], $4::text[], $5::text[]) AS x(t, n, s, u)"
        " ON CONFLICT (tenant_id) DO UPDATE SET folded_before = EXCLUDED.folded_before,"
        " events_folded = EXCLUDED.events_folded, state = EXCLUDED.state, unreadable = EXCLUDED.unreadable,"
        " written_at = EXCLUDED.written_at",
        tenants,
        folded_before,
        [folded[tenant] for tenant in tenants],
        [json.dumps(encode_state(states[tenant]), ensure_ascii=False, separators=(",", ":")) for tenant in tenants],
        [json.dumps(unreadable[tenant], ensure_ascii=False) for tenant in tenants],
    )
    report.tenants += len(tenants)


def encode_state(state: TenantState) -> dict[str, Any]:
    """Every record and floor of `state`, as JSON."""
    tenant = state.tenant
    return {
        "format": _FORMAT,
        "tenant": None
        if tenant is None
        else [
            _us(tenant.version),
            tenant.deleted,
            tenant.tenant_code,
            tenant.name,
            tenant.domain_name,
            tenant.instance_id,
            tenant.order_id,
        ],
        "floors": [_us_or_none(state.floors.tenant), _us_or_none(state.floors.org)],
        "departments": [
            [d.org_code, _us(d.version), d.deleted, d.org_name, d.parent_code] for d in state.departments.values()
        ],
        "users": [
            [u.user_name, _us(u.version), u.deleted, u.data, _us_or_none(u.auth_floor)] for u in state.users.values()
        ],
        "authorizations": [
            [a.app_id, a.user_name, _us(a.version), a.authorized] for a in state.authorizations.values()
        ],
        "applications": [
            [a.app_id, _us(a.version), a.deleted, a.client_id, a.client_secret, a.instance_id]
            for a in state.applications.values()
        ],
    }


def decode_state(tenant_id: str, text: str) -> TenantState:
    """The state `encode_state` wrote (as JSON text), with nothing marked changed."""
    document = json.loads(text)
    if document.get("format") != _FORMAT:
        raise ValueError(f"checkpoint of tenant {tenant_id!r} has format {document.get('format')!r}")
    state = TenantState(tenant_id)
    if document["tenant"] is not None:
        version, deleted, code, name, domain, instance, order = document["tenant"]
        state.tenant = TenantRecord(_time(version), deleted, code, name, domain, instance, order)
    tenant_floor, org_floor = document["floors"]
    state.floors = Floors(_time_or_none(tenant_floor), _time_or_none(org_floor))
    for code, version, deleted, name, parent in document["departments"]:
        state.departments[code] = DepartmentRecord(code, _time(version), deleted, name, parent)
    for name, version, deleted, data, auth_floor in document["users"]:
        state.users[name] = UserRecord(name, _time(version), deleted, data, _time_or_none(auth_floor))
    for app, user, version, authorized in document["authorizations"]:
        state.authorizations[(app, user)] = AuthorizationRecord(app, user, _time(version), authorized)
    for app, version, deleted, client_id, secret, instance in document["applications"]:
        state.applications[app] = ApplicationRecord(app, _time(version), deleted, client_id, secret, instance)
    return state


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _us_or_none(moment: datetime | None) -> int | None:
    return None if moment is None else _us(moment)


def _time(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _time_or_none(us: int | None) -> datetime | None:
    return None if us is None else _time(us)


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
