"""The console's JSON shapes: what `console_queries` read, rendered for the browser, secrets redacted."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from read_api.console.queries import AckRow, Backlog, EventDetail, FinishedSeries, Retention, TenantMatch
from read_api.process_metrics import ProcessReadings
from schemas.redaction import shown_payload
from schemas.timestamps import format_platform_time

# Shown where a reading is missing, so the page says why instead of showing a zero.
LAG_ELSEWHERE = "consumer lag is measured by the workers: this API process runs none (see their /metrics)"
CALLS_ELSEWHERE = "calls answered are counted by the gateway: this API process runs none (see its /metrics)"


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def render_overview(
    now: datetime,
    series: FinishedSeries,
    backlog: Backlog,
    retention: Retention,
    process: ProcessReadings,
    *,
    bucket_s: int,
) -> dict[str, Any]:
    """`finished`: events that reached a final status, from Postgres (`finished_at`); `retention`: the
    oldest event kept and the latest prune's horizons (null until one ran); `process`: what this
    process's own metrics know, null where it runs no such component."""
    seconds = series.recent_s
    return {
        "generatedAt": iso(now),
        "finished": {
            "bucketSeconds": bucket_s,
            "buckets": [iso(bucket) for bucket in series.buckets],
            "byInterface": dict(sorted(series.by_interface.items())),
            "byStatus": dict(sorted(series.by_status.items())),
            "perSecondByInterface": {
                interface: round(count / seconds, 3) for interface, count in sorted(series.recent_by_interface.items())
            },
            "perSecondOverSeconds": seconds,
        },
        "acks": {
            "pending": backlog.acks_pending,
            "retrying": backlog.acks_retrying,
            "oldestPendingSeconds": _age_s(now, backlog.oldest_ack_pending),
        },
        "deadLetters": {
            "waiting": backlog.dead_letters_waiting,
            "oldestWaitingSeconds": _age_s(now, backlog.oldest_dead_letter),
        },
        "uploadsWaiting": backlog.uploads_waiting,
        "retention": {
            "oldestEventAt": iso(retention.oldest_event),
            "oldestEventAgeSeconds": _age_s(now, retention.oldest_event),
            "horizons": {
                history: {
                    "keptSeconds": horizon.kept.total_seconds(),
                    "horizon": iso(horizon.horizon),
                    "prunedAt": iso(horizon.pruned_at),
                    "prunedAgoSeconds": _age_s(now, horizon.pruned_at),
                }
                for history, horizon in sorted(retention.horizons.items())
            }
            or None,
        },
        "consumerLag": None
        if process.consumer_lag is None
        else [{"topic": p.topic, "partition": p.partition, "lag": p.lag} for p in process.consumer_lag],
        "gatewayCalls": process.gateway_calls,
        "notes": [
            note
            for missing, note in (
                (process.consumer_lag is None, LAG_ELSEWHERE),
                (process.gateway_calls is None, CALLS_ELSEWHERE),
            )
            if missing
        ],
    }


def render_tenant_match(match: TenantMatch) -> dict[str, Any]:
    return {
        "tenantId": match.tenant_id,
        "name": match.name,
        "tenantCode": match.tenant_code,
        "deleted": match.deleted,
        "hasRecord": match.has_record,
    }


def render_event_detail(detail: EventDetail) -> dict[str, Any]:
    """Envelope, redacted payload, the story told by its rows (history), every ack and dead letter."""
    kafka = None
    if detail.kafka_partition is not None:
        kafka = {"partition": detail.kafka_partition, "offset": detail.kafka_offset}
    return {
        "eventId": detail.event_id,
        "tenantId": detail.tenant_id,
        "instanceId": detail.instance_id,
        "interface": detail.interface,
        "status": detail.status,
        "reason": detail.reason,
        "timeStamp": format_platform_time(detail.time_stamp) if detail.time_stamp else None,
        "testFlag": detail.test_flag,
        "acceptedAt": iso(detail.accepted_at),
        "finishedAt": iso(detail.finished_at),
        "kafka": kafka,
        "duplicates": detail.duplicates,
        "partsWaiting": detail.parts_waiting,
        **shown_payload(None if detail.call is None else json.dumps(detail.call, ensure_ascii=False).encode()),
        "history": event_history(detail),
        "acks": [_render_ack(ack) for ack in detail.acks],
        "acksPruned": detail.acks_pruned,
        "deadLetters": [letter.to_json() for letter in detail.dead_letters],
    }


def event_history(detail: EventDetail) -> list[dict[str, Any]]:
    """What happened to the event, oldest first, pieced together from the rows that record it: the
    events row only keeps the latest status, its dead letters and acks keep the earlier ones."""
    steps: list[tuple[datetime, str, str]] = []
    if detail.accepted_at is not None:
        steps.append((detail.accepted_at, "accepted", "accepted by the gateway, stored in Kafka"))
    for letter in detail.dead_letters:
        steps.append((letter.created_at, "dead_lettered", f"dead letter {letter.dead_letter_id}: {letter.reason}"))
        if letter.failures > 1:
            steps.append((letter.failed_at, "dead_lettered", f"failed again ({letter.failures} failures in all)"))
        if letter.retried_at is not None:
            steps.append((letter.retried_at, letter.retry_status or "retried", "re-driven from its dead letter"))
        if letter.dropped_at is not None:
            steps.append((letter.dropped_at, "dropped", "dead letter given up by an operator"))
    if detail.finished_at is not None:
        steps.append((detail.finished_at, detail.status, detail.reason or "final status recorded by the worker"))
    if detail.acks_pruned and detail.finished_at is not None:
        steps.append(
            (detail.finished_at, "ack_sent", "acknowledged; its outbox rows were pruned since, and with them when")
        )
    for ack in detail.acks:
        steps.append((ack.created_at, "ack_owed", f"ack {ack.ack_id} owed, reporting {ack.status}"))
        if ack.sent_at is not None:
            attempts = "attempt" if ack.attempts == 1 else "attempts"
            steps.append(
                (ack.sent_at, "ack_sent", f"ack {ack.ack_id} taken by the platform ({ack.attempts} {attempts})")
            )
    steps.sort(key=lambda step: step[0])  # stable: at one instant, the status before the ack it owes
    return [{"at": iso(at), "status": status, "note": note} for at, status, note in steps]


def _render_ack(ack: AckRow) -> dict[str, Any]:
    return {
        "ackId": ack.ack_id,
        "state": "sent" if ack.sent_at is not None else "pending",
        "status": ack.status,
        "resultCode": ack.result_code,
        "createdAt": iso(ack.created_at),
        "attempts": ack.attempts,
        "lastError": ack.last_error,
        "nextAttemptAt": None if ack.sent_at is not None else iso(ack.next_attempt_at),
        "sentAt": iso(ack.sent_at),
    }


def _age_s(now: datetime, since: datetime | None) -> float | None:
    return None if since is None else round(max(0.0, (now - since).total_seconds()), 1)
