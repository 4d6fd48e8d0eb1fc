"""Per-tenant checkpoints: every pruned event of a tenant, folded into one state.

A tenant's checkpoint (workers/retention/checkpoints.py folds it) is its `TenantState` as the pruned
calls alone make it, applied tenant by tenant in `timeStamp` order with the domain rules the workers
use. It is therefore not a copy of the live state: `syncpipe rebuild` starts from it and applies the
retained events on top. A live state damaged after the pruned events were applied (rows deleted by
hand, a bad deploy) is repaired by a rebuild as before. The state is stored compactly (versions as
microseconds since the epoch, records as arrays).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from schemas.calls import parse_call
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
from workers.retention.checkpoints import CheckpointKind

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FORMAT = 1


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


def _fold(state: TenantState, row: asyncpg.Record) -> None:
    apply_call(state, parse_call(row["interface"], json.loads(row["call"])))


def _encoded(state: TenantState) -> str:
    return json.dumps(encode_state(state), ensure_ascii=False, separators=(",", ":"))


TENANT_CHECKPOINTS = CheckpointKind(
    table="tenant_checkpoints",
    subject="tenant_id",
    state_column="state",
    calls="tenant_id <> ''",
    calls_arguments=(),
    order="time_stamp, accepted_at, event_id",
    per_group=100,
    fresh=TenantState,
    decode=decode_state,
    encode=_encoded,
    fold=_fold,
)
