"""Recovery tools for the on-call engineer (SPEC §8), behind `syncpipe replay|rebuild|dlq|events`.

- `log_window` — which offsets of the events topic a replay reads, and reading them without a group.
- `selection` — the records a replay keeps (tenant, interface), parts of an upload kept together.
- `replay` — re-feed a window of retained records through `apply_batch`.
- `rebuild` — recompute one tenant's state from the `events` archive in Postgres (and why there).
- `instance_rebuild` — the same for one instance (SPEC §9).
- `rebuild_report` — what both kinds of rebuild report alike.
- `state_diff` — one tenant's stored rows, and what changed between two readings of them.
- `dead_letters` — list, show, retry and drop the records kept in `dead_letters`.
- `history` — a tenant's events with their status, reason and ack.

Everything here reaches the services only through connections and consumers handed in by the
caller (syncpipe/recovery/commands.py), which builds them from `Settings`.
"""
