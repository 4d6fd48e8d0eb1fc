"""Bounded storage: history kept for a stated horizon, then folded and dropped (docs/retention.md).

- `prune` — one prune: which partitions and rows passed their horizon, and in what order they go.
- `checkpoints` — per-tenant checkpoints: the pruned events of a tenant folded into one state.
- `maintenance` — the retention run (partitions ahead + prune) and the workers' periodic loop.
- `horizons` — what is retained, as the latest prune left it.
- `metrics` — the run's metrics, served by the worker.
The partition DDL itself is runtime/postgres/partitions.py.
"""
