"""Sends the acknowledgements of SPEC §6: written to an outbox with each finished event, POSTed later.

- `outbox` — the `ack_outbox` table: enqueue (inside the applier's transaction), claim, record outcomes.
- `platform_client` — one signed POST to the platform's ack URL.
- `retry` — when a failed ack is tried again.
- `sender` — the loop that claims due acks, POSTs them concurrently and records how each went.
- `service.serve_acker` — the `syncpipe acker` process.
"""
