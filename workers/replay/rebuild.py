"""Rebuild one tenant's state from the events archived in Postgres, in one transaction.

Under the tenant's advisory lock: read its rows, discard them, re-run the domain rules from its
checkpoint (if retention made one) over its archived `applied` and `stale` calls in `timeStamp`
order, save them with the applier's `save_changes`, and report the difference; a dry run rolls back.
Readers see the old state or the new, never half. A tenant with neither an archived event nor a
checkpoint is refused (NotFound), not emptied; one with a call that no longer validates, archived or
listed in its checkpoint, is refused too (ArchiveUnreadable). Which events and why, why Postgres and
not Kafka: docs/when-things-go-wrong.md; beyond the retention horizon: docs/retention.md.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg

from schemas.calls import AnyCall, parse_call
from schemas.exceptions import InvalidCall
from workers.applier.state_store import lock_tenants, save_changes
from workers.domain.rules import apply_call
from workers.domain.tenant_state import TenantState
from workers.replay.exceptions import ArchiveUnreadable, NotFound
from workers.replay.progress import Progress
from workers.replay.rebuild_report import RebuildReport
from workers.replay.state_diff import DERIVED_TABLES, StateDiff, TenantRows, diff_rows, read_tenant_rows
from workers.replay.transactions import in_one_transaction
from workers.retention.checkpoints import FOLDED_STATUSES, load_checkpoint
from workers.retention.tenant_checkpoints import TENANT_CHECKPOINTS

REBUILT_STATUSES = FOLDED_STATUSES


@dataclass(kw_only=True)
class TenantRebuildReport(RebuildReport[TenantState]):
    """A tenant's rebuild; no checkpoint: it started from an empty tenant."""

    tenant_id: str
    diff: StateDiff
    rows_before: dict[str, int]
    rows_after: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        details = {"rowsBefore": self.rows_before, "rowsAfter": self.rows_after, "diff": self.diff.to_json()}
        return self._json(("tenantId", self.tenant_id), "eventsByInterface", details)


async def rebuild_tenant(
    connection: asyncpg.Connection, tenant_id: str, *, dry_run: bool, progress: Progress
) -> TenantRebuildReport:
    """Raises NotFound if the tenant has neither an archived event nor a checkpoint, ArchiveUnreadable
    if some of its calls no longer validate (nothing is changed in either case)."""
    started = time.monotonic()

    async def rebuild() -> TenantRebuildReport:
        await lock_tenants(connection, [tenant_id])
        before = await read_tenant_rows(connection, tenant_id)
        checkpoint = await load_checkpoint(connection, TENANT_CHECKPOINTS, tenant_id)
        if checkpoint is not None and checkpoint.unreadable:
            raise ArchiveUnreadable(tenant_id, checkpoint.unreadable)
        calls = await _archived_calls(connection, tenant_id)
        if not calls and checkpoint is None:
            raise NotFound(f"no archived event of tenant {tenant_id!r} to rebuild from; its state is left as is")
        state = checkpoint.state if checkpoint is not None else TenantState(tenant_id)
        for done, call in enumerate(calls, start=1):
            apply_call(state, call)
            progress.update(done, len(calls))
        for table in DERIVED_TABLES:
            await connection.execute(f"DELETE FROM {table} WHERE tenant_id = $1", tenant_id)
        await save_changes(connection, {tenant_id: state.everything()})
        after = await read_tenant_rows(connection, tenant_id)
        report = _report(tenant_id, dry_run, before, after, calls)
        report.checkpoint = checkpoint
        return report

    report = await in_one_transaction(connection, rebuild, keep=lambda _: not dry_run)
    report.elapsed_s = time.monotonic() - started
    return report


async def _archived_calls(connection: asyncpg.Connection, tenant_id: str) -> list[AnyCall]:
    rows = await connection.fetch(
        "SELECT event_id, interface, call::text AS call FROM events"
        " WHERE tenant_id = $1 AND status = ANY($2::text[]) AND call IS NOT NULL"
        " ORDER BY time_stamp, accepted_at, event_id",
        tenant_id,
        list(REBUILT_STATUSES),
    )
    calls, problems = [], []
    for row in rows:
        try:
            calls.append(parse_call(row["interface"], json.loads(row["call"])))
        except InvalidCall as exc:
            problems.append((row["event_id"], str(exc)))
    if problems:
        raise ArchiveUnreadable(tenant_id, problems)
    return calls


def _report(
    tenant_id: str, dry_run: bool, before: TenantRows, after: TenantRows, calls: list[AnyCall]
) -> TenantRebuildReport:
    return TenantRebuildReport(
        tenant_id=tenant_id,
        dry_run=dry_run,
        diff=diff_rows(before, after),
        rows_before=before.counts,
        rows_after=after.counts,
        events_used=Counter(call.interface.value for call in calls),
    )
