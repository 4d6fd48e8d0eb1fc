"""Rebuild one instance's state from its calls archived in Postgres, in one transaction.

As `rebuild_tenant` does for a tenant (workers/replay/rebuild.py), and for the same reasons: under the
instance's lock (the one workers and the read API take), read the instance, run the rules over every
archived call of the instance (status `applied` or `stale`; debug calls changed nothing, dead-lettered
ones never applied) on a fresh state, save it, and report what differs. The merchant's appInfo is not
the platform's and is kept as it is. A dry run does the same and rolls back.

Beyond the retention horizon (docs/retention.md): before a day of events is dropped, its instance calls
are folded into a checkpoint per instance (workers/retention/instance_checkpoints.py), the set of changes
they make. The rebuild starts from that set and adds the retained calls, so a pruned newInstance,
release or order still counts: the result is what the whole history gives. A checkpoint listing calls
that no longer validated is refused like an unreadable retained call; an instance with neither
retained calls nor a checkpoint is refused (NotFound), not emptied.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import asyncpg

from schemas.exceptions import InvalidCall
from schemas.instance_calls import CHANGES, parse_instance_change
from workers.applier.instance_store import load_instances, lock_instances, save_instances
from workers.domain.instance_rules import apply_instance_change
from workers.domain.instance_state import InstanceState
from workers.domain.instance_views import render_instance
from workers.replay.exceptions import ArchiveUnreadable, NotFound
from workers.replay.progress import Progress
from workers.replay.rebuild import REBUILT_STATUSES
from workers.replay.rebuild_report import RebuildReport
from workers.replay.transactions import in_one_transaction
from workers.retention.checkpoints import load_checkpoint
from workers.retention.instance_checkpoints import INSTANCE_CHECKPOINTS


@dataclass(kw_only=True)
class InstanceRebuildReport(RebuildReport[InstanceState]):
    """An instance's rebuild; no checkpoint: it started from no change."""

    instance_id: str
    before: dict[str, Any] | None  # the instance as the read API served it, None if it had no row
    after: dict[str, Any]

    @property
    def changed(self) -> dict[str, tuple[Any, Any]]:
        """Field -> (before, after), for the fields that differ."""
        before = self.before or {}
        return {name: (before.get(name), value) for name, value in self.after.items() if before.get(name) != value}

    def to_json(self) -> dict[str, Any]:
        changed = {name: {"before": old, "after": new} for name, (old, new) in self.changed.items()}
        details = {"changed": changed, "after": self.after}
        return self._json(("instanceId", self.instance_id), "eventsByActivity", details)


async def rebuild_instance(
    connection: asyncpg.Connection, instance_id: str, *, dry_run: bool, progress: Progress
) -> InstanceRebuildReport:
    """Raises NotFound if the instance has neither an archived call nor a checkpoint, ArchiveUnreadable
    if some of its calls (retained or folded) no longer validate (nothing is changed in either case)."""
    started = time.monotonic()

    async def rebuild() -> InstanceRebuildReport:
        await lock_instances(connection, [instance_id])
        stored = (await load_instances(connection, [instance_id]))[instance_id]
        checkpoint = await load_checkpoint(connection, INSTANCE_CHECKPOINTS, instance_id)
        if checkpoint is not None and checkpoint.unreadable:
            raise ArchiveUnreadable(instance_id, checkpoint.unreadable, subject="instance")
        rows = await connection.fetch(
            "SELECT event_id, interface, time_stamp, call::text AS call FROM events"
            " WHERE instance_id = $1 AND interface = ANY($2::text[]) AND status = ANY($3::text[])"
            " AND call IS NOT NULL ORDER BY time_stamp, event_id",
            instance_id,
            sorted(CHANGES),
            list(REBUILT_STATUSES),
        )
        if not rows and checkpoint is None:
            raise NotFound(f"no archived call of instance {instance_id!r} to rebuild from; it is left as is")
        state = InstanceState(instance_id, app_info=stored.app_info, ready_at=stored.ready_at)
        for change in checkpoint.state.changes.values() if checkpoint is not None else ():
            state.add(change)
        problems, used = [], Counter[str]()
        for done, row in enumerate(rows, start=1):
            try:
                call = parse_instance_change(json.loads(row["call"]))
            except InvalidCall as exc:
                problems.append((row["event_id"], str(exc)))
                continue
            apply_instance_change(state, row["event_id"], row["time_stamp"], call)
            used[row["interface"]] += 1
            progress.update(done, len(rows))
        if problems:
            raise ArchiveUnreadable(instance_id, problems, subject="instance")
        state.changed = True
        await save_instances(connection, [state])
        return InstanceRebuildReport(
            instance_id=instance_id,
            dry_run=dry_run,
            before=render_instance(stored) if stored.changes else None,
            after=render_instance(state),
            events_used=used,
            checkpoint=checkpoint,
        )

    report = await in_one_transaction(connection, rebuild, keep=lambda _: not dry_run)
    report.elapsed_s = time.monotonic() - started
    return report
