"""Per-instance checkpoints: every pruned call of an instance (SPEC §9), folded into one set of changes.

An instance's state is already a grow-only set of its distinct production calls
(`InstanceState.changes`, workers/domain/instance_state.py), so its checkpoint (folded by
workers/retention/checkpoints.py, as a tenant's is) is that set as the pruned calls alone make it.
`syncpipe rebuild --instance` starts from it and adds the retained calls on top; a set does not care
about order or repeats, so the result is what a rebuild from the whole history gives. Without it a
rebuild after a prune would silently forget the instance's opening call, its release or its orders.
Adding a change the set holds changes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime

import asyncpg

from schemas.instance_calls import CHANGES, parse_instance_change
from workers.domain.instance_rules import apply_instance_change
from workers.domain.instance_state import InstanceState, LoggedChange
from workers.retention.checkpoints import CheckpointKind


def _decode(instance_id: str, text: str) -> InstanceState:
    state = InstanceState(instance_id)
    for entry in json.loads(text):
        state.add(LoggedChange.from_json(entry))
    return state


def _encode(state: InstanceState) -> str:
    return json.dumps([change.to_json() for change in sorted(state.changes.values(), key=_key)])


def _key(change: LoggedChange) -> tuple[datetime, str]:
    return change.key


def _fold(state: InstanceState, row: asyncpg.Record) -> None:
    apply_instance_change(state, row["event_id"], row["time_stamp"], parse_instance_change(json.loads(row["call"])))


INSTANCE_CHECKPOINTS = CheckpointKind(
    table="instance_checkpoints",
    subject="instance_id",
    state_column="changes",
    # An instance call's row: its instance, no tenant (migration 0006), one of the change activities.
    calls="tenant_id = '' AND instance_id <> '' AND interface = ANY($1::text[])",
    calls_arguments=(sorted(CHANGES),),
    order="time_stamp, event_id",
    per_group=500,
    fresh=InstanceState,
    decode=_decode,
    encode=_encode,
    fold=_fold,
)
