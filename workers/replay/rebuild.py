"""Rebuild one tenant's state from the events archived in Postgres, in one transaction.

What it does: under the tenant's advisory lock (the one workers take, so no batch of the tenant
interleaves), read the tenant's rows, discard them, re-run the domain rules over every archived call
of the tenant on a fresh `TenantState`, save the result with the applier's own `save_changes`, and
read the rows again to report the difference. Readers see the old state or the new, never half: the
read API reads in one snapshot, and the transaction commits all or nothing. A dry run does the same
and rolls back. The result is what the pipeline would hold had it applied those calls cleanly: the
convergence property (SPEC §5) makes the order of application irrelevant; `timeStamp` order is used.

Which events: status `applied` or `stale` (a stale call can still raise a floor, and re-running it
is harmless). Not `test` (changes nothing by definition), not `dead_lettered` (never applied: re-drive
it with `syncpipe dlq retry`), not `duplicate` (never its own row). A tenant with neither an archived
event nor a checkpoint is refused rather than read as "the tenant is empty": that would wipe it.

Beyond the retention horizon (docs/retention.md). Events are kept SYNCPIPE_RETENTION_EVENTS_DAYS;
before a day of them is dropped, its calls are folded, with these same rules, into a checkpoint per
tenant (workers/retention/checkpoints.py, tenant_checkpoints.py). A rebuild starts from the tenant's
checkpoint, if it has one, and applies every retained event on top. The checkpoint holds what the
pruned calls produce and nothing of the live state, and applying calls again changes nothing (SPEC
§5), so the result is what a rebuild from the tenant's whole history would give: rows damaged or
lost since are restored, even rows last written by a pruned call. What it cannot do is apply
*today's* rules to pruned calls: they were folded with the rules of the day they were pruned. A
checkpoint listing calls that no longer validated when folded makes the rebuild refuse, as an
unreadable retained call does.

Why the archive is in Postgres, and what Kafka is still for:
 - Kafka deletes old records after SYNCPIPE_TOPIC_RETENTION_MS (a week by default); a
   tenant created a year ago cannot be rebuilt from the topic.
 - Log compaction would not help: the key is the tenant id, so compaction keeps one record per
   tenant — its latest call — and throws away the history a rebuild needs.
 - So every event's normalised call is kept in `events.call`, committed with the event's effect
   in the same transaction: the archive can never be behind the state it explains. It costs about
   the size of the calls themselves for SYNCPIPE_RETENTION_EVENTS_DAYS (BENCHMARKS.md, the soak).
 - Kafka's retention window is what `syncpipe replay` can reach: the events not yet (or no longer)
   in Postgres, e.g. after restoring a database backup, replay from the backup's time.
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
