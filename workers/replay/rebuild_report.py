"""What a rebuild reports, of a tenant (workers/replay/rebuild.py) or of an instance (instance_rebuild.py).

The two see different states, so each kind has its own report: a tenant's is rows in several tables
(counted before and after, and their diff, table by table), an instance's is the one record the read
API serves (before and after, field by field). What both say alike (dry run or not, the calls used,
the checkpoint the rebuild started from, the time it took) is `RebuildReport`, said once here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from workers.retention.checkpoints import Checkpoint

State = TypeVar("State")


@dataclass(kw_only=True)
class RebuildReport(Generic[State]):
    dry_run: bool
    events_used: Counter[str] = field(default_factory=Counter)  # by interface (an instance's: activity)
    checkpoint: Checkpoint[State] | None = None  # what the rebuild started from, None: nothing was pruned
    elapsed_s: float = 0.0

    def _json(self, subject: tuple[str, str], by: str, details: dict[str, Any]) -> dict[str, Any]:
        """The report as JSON: `subject` (its key and id), the calls used, the counts by kind under `by`,
        then the kind's own `details`, the checkpoint and the time taken."""
        key, subject_id = subject
        return {
            key: subject_id,
            "dryRun": self.dry_run,
            "eventsUsed": sum(self.events_used.values()),
            by: dict(sorted(self.events_used.items())),
            **details,
            "checkpoint": None
            if self.checkpoint is None
            else {
                "foldedBefore": self.checkpoint.folded_before.isoformat(),
                "eventsFolded": self.checkpoint.events_folded,
            },
            "elapsedS": round(self.elapsed_s, 3),
        }
