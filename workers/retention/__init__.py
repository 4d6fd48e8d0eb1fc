"""Bounded storage: history kept for a stated horizon, then folded and dropped (docs/retention.md).

- `prune` — one prune: which partitions and rows passed their horizon, and in what order they go.
- `checkpoints` — the pruned calls of a tenant or an instance folded into one checkpoint, read back by a rebuild;
  `tenant_checkpoints` and `instance_checkpoints` — how each kind's state is folded and stored.
- `maintenance` — the retention run (partitions ahead + prune) and the workers' periodic loop.
- `horizons` — what is retained, as the latest prune left it.
- `metrics` — the run's metrics, served by the worker.
The partition DDL itself is runtime/postgres/partitions.py.
"""
