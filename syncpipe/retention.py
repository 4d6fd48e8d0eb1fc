"""`syncpipe retention [--dry-run] [--json]`: create partitions ahead and prune once, as a worker does
every SYNCPIPE_RETENTION_INTERVAL_S (docs/retention.md); for a first run after migrating, a cron job
when no worker runs, or to see what the next prune would drop."""

from __future__ import annotations

import argparse
import json
import sys

import asyncpg

from runtime.settings import Settings
from workers.retention.maintenance import RetentionRun, run_retention
from workers.retention.prune import RetentionPolicy

# The database answers a connect within this or is reported unreachable.
_CONNECT_TIMEOUT_S = 10.0
EXIT_BUSY = 3  # another process is running a retention run: nothing was done


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="create and drop nothing; list what a run would drop")
    parser.add_argument("--json", action="store_true", help="print the run as one JSON document")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.database_url is None:
        print("syncpipe retention: DATABASE_URL is not set", file=sys.stderr)
        return 2
    connection = await asyncpg.connect(settings.database_url.get_secret_value(), timeout=_CONNECT_TIMEOUT_S)
    try:
        retention_run = await run_retention(connection, RetentionPolicy.from_settings(settings), dry_run=args.dry_run)
    finally:
        await connection.close()
    if retention_run is None:
        print("syncpipe retention: another process is running a retention run; nothing done", file=sys.stderr)
        return EXIT_BUSY
    print(json.dumps(retention_run.to_json(), indent=2) if args.json else render(retention_run))
    return 0


def render(retention_run: RetentionRun) -> str:
    report = retention_run.prune
    would = "would drop" if report.dry_run else "dropped"
    horizons = ", ".join(f"{history} {moment:%Y-%m-%d %H:%M}" for history, moment in report.horizons.items())
    lines = [
        f"retention at {report.now:%Y-%m-%d %H:%M:%S %Z}"
        + ("  (dry run: nothing was changed)" if report.dry_run else ""),
        f"  horizons (UTC)          {horizons}",
        f"  partitions created      {', '.join(retention_run.partitions_created) or 'none needed'}",
        f"  events, {would:<15} {', '.join(report.events_partitions_dropped) or 'nothing'}",
    ]
    if not report.dry_run:
        folded = (
            f"{report.events_folded:,} events into {report.tenants_checkpointed:,} tenant and"
            f" {report.instances_checkpointed:,} instance checkpoints"
        )
        lines.append(f"    folded first          {folded}")
    if report.unreadable:
        lines.append(
            f"    NOT folded            {len(report.unreadable)} calls that no longer validate (rebuild refuses)"
        )
    lines.append(f"  sent acks, {would:<12} {len(report.ack_partitions_dropped)} hours")
    if report.ack_partitions_held:
        lines.append(f"    kept, still owing     {', '.join(report.ack_partitions_held)}")
    lines += [
        f"  dead letters, {would:<9} {report.dead_letters_deleted:,} (decided ones only)",
        f"  abandoned upload parts  {report.upload_parts_deleted:,}",
        "  oldest event kept       "
        + (retention_run.oldest_event.isoformat() if retention_run.oldest_event else "none"),
        f"  elapsed                 {retention_run.elapsed_s:.1f} s",
    ]
    return "\n".join(lines)
