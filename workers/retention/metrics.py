"""The retention run's metrics, served by the worker that runs it (docs/retention.md)."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from workers.retention.prune import PruneReport

# A run creates a partition or two and drops a day of events (folding it first): seconds to minutes.
_RUN_BUCKETS_S = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)


class RetentionMetrics:
    """Registered on `registry` when created; one per process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "syncpipe_retention_runs",
            "Retention runs of this worker, by outcome (done; failed: retried at the next interval;"
            " skipped: another process was running one).",
            ["outcome"],
            registry=registry,
        )
        self.run_seconds = Histogram(
            "syncpipe_retention_run_duration_seconds",
            "Time of one retention run (partitions created ahead, history folded and dropped).",
            buckets=_RUN_BUCKETS_S,
            registry=registry,
        )
        self.last_success = Gauge(
            "syncpipe_retention_last_success_timestamp_seconds",
            "When this worker last completed a retention run (Unix time).",
            registry=registry,
        )
        self.partitions_dropped = Counter(
            "syncpipe_retention_partitions_dropped",
            "Partitions dropped past their horizon, by table.",
            ["table"],
            registry=registry,
        )
        self.ack_partitions_held = Gauge(
            "syncpipe_retention_ack_partitions_held",
            "Hours of the ack outbox past their horizon, kept because they still owe acks.",
            registry=registry,
        )
        self.horizon = Gauge(
            "syncpipe_retention_horizon_timestamp_seconds",
            "What is older than this is pruned, by history (events, sent_acks, dead_letters, uploads; Unix time).",
            ["history"],
            registry=registry,
        )
        self.oldest_event = Gauge(
            "syncpipe_retention_oldest_event_timestamp_seconds",
            "When the oldest event still kept finished (Unix time; 0 when none is kept).",
            registry=registry,
        )
        for outcome in ("done", "failed", "skipped"):
            self.runs.labels(outcome)
        for table in ("events", "ack_outbox"):
            self.partitions_dropped.labels(table)

    def observe(self, report: PruneReport, oldest_event: datetime | None, elapsed_s: float) -> None:
        self.runs.labels("done").inc()
        self.run_seconds.observe(elapsed_s)
        self.last_success.set(report.now.timestamp())
        self.partitions_dropped.labels("events").inc(len(report.events_partitions_dropped))
        self.partitions_dropped.labels("ack_outbox").inc(len(report.ack_partitions_dropped))
        self.ack_partitions_held.set(len(report.ack_partitions_held))
        for history, horizon in report.horizons.items():
            self.horizon.labels(history).set(horizon.timestamp())
        self.oldest_event.set(oldest_event.timestamp() if oldest_event else 0)
