"""How the recovery commands' results read to a person (their `--json` form is each report's `to_json`)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from schemas.redaction import redact, shown_headers, shown_text
from workers.replay.dead_letters import DeadLetterDetail, DeadLetterSummary, DropOutcome, RetryOutcome
from workers.replay.history import TenantHistory
from workers.replay.instance_rebuild import InstanceRebuildReport
from workers.replay.rebuild import TenantRebuildReport
from workers.replay.rebuild_report import RebuildReport
from workers.replay.replay import ReplayReport

# A value that is not JSON is shown up to this many bytes; a JSON field up to a line's worth.
_VALUE_PREVIEW_CHARS = 400
_VALUE_LINE_CHARS = 160
# Reasons are the last column of tables, cut to this; `dlq show` prints them whole.
_REASON_CHARS = 200


def when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _breakdown(counts: Counter[str]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counts.items())) or "-"


def _dry(dry_run: bool) -> str:
    return "  (dry run: nothing was changed)" if dry_run else ""


def render_replay(report: ReplayReport, topic: str) -> str:
    windows = [w for w in report.window if w.size]
    spans = ", ".join(f"{w.partition}:{w.start}..{w.end - 1}" for w in windows) or "nothing in the window"
    refed = sum(report.refed.values())
    lines = [
        f"replay of {topic}{_dry(report.dry_run)}",
        f"  window              {spans}",
        f"  records read        {report.records_read:,}",
        f"  records matched     {report.records_matched:,}",
        f"  events matched      {report.events_matched:,}",
        f"  already had         {sum(report.already_had.values()):,} ({_breakdown(report.already_had)})",
        f"  {'would re-feed' if report.dry_run else 're-fed':<20}{refed:,} ({_breakdown(report.refed)})",
    ]
    if report.refed_copies:
        copies = f"{report.refed_copies:,} (copies of a call re-fed above: they count as duplicates)"
        lines.append(f"    of which re-sent  {copies}")
    if not report.dry_run:
        lines += [
            f"  applied             {report.applied:,}",
            f"  dead-lettered       {report.dead_lettered:,}",
            f"  outcomes            {_breakdown(report.outcomes)}",
        ]
    if report.failed:
        lines.append(f"  failed              {len(report.failed):,}")
        lines += [f"    {event_id}: {error}" for event_id, error in report.failed]
    if report.incomplete_uploads:
        lines.append(f"  uploads cut by the window, skipped: {report.incomplete_uploads}")
    if report.dry_run and report.sample:
        lines.append(
            "  events it would re-feed: " + " ".join(report.sample) + (" ..." if refed > len(report.sample) else "")
        )
    kept = "forever" if report.kafka_retention_ms < 0 else f"{report.kafka_retention_ms / 3_600_000:g} h"
    lines.append(
        f"  bounded by          the topic's retention, {kept}"
        " (SYNCPIPE_TOPIC_RETENTION_MS): nothing older is left to replay"
    )
    if report.history_pruned_before is not None:
        lines.append(
            f"  database history    events finished before {report.history_pruned_before:%Y-%m-%d %H:%M} UTC are"
            " pruned: found in the window, they are applied again as new, and are stale by version"
        )
    lines.append(f"  elapsed             {report.elapsed_s:.1f} s")
    return "\n".join(lines)


def _rebuild_opening(report: RebuildReport[Any], subject: str, calls: str, from_nothing: str) -> list[str]:
    """The lines every rebuild's report opens with: what was rebuilt, from which calls, from what."""
    checkpoint = report.checkpoint
    return [
        f"rebuild of {subject}" + ("  (dry run: rolled back, nothing was changed)" if report.dry_run else ""),
        f"  archived events used  {sum(report.events_used.values()):,} ({_breakdown(report.events_used)})",
        "  started from          "
        + (
            from_nothing
            if checkpoint is None
            else f"its checkpoint: {checkpoint.events_folded:,} pruned {calls}, finished before"
            f" {checkpoint.folded_before.isoformat()} (docs/retention.md)"
        ),
    ]


def _rebuild_verdict(report: RebuildReport[Any], differed: bool) -> str:
    verdict = "state differed from its events" if differed else "the stored state already matched its events"
    return f"  {verdict}; elapsed {report.elapsed_s:.1f} s"


def render_rebuild(report: TenantRebuildReport) -> str:
    diff = report.diff
    lines = [
        *_rebuild_opening(
            report, f"tenant {report.tenant_id}", "events", "an empty tenant (no event of it was pruned)"
        ),
        f"  tenant record         {diff.tenant_change}{_tenant_fields(diff.tenant_before, diff.tenant_after)}",
        f"  {'':<16}{'before':>8}{'after':>8}{'added':>8}{'removed':>8}{'changed':>8}{'same':>8}",
    ]
    for kind, change in diff.kinds.items():
        lines.append(
            f"  {kind:<16}{report.rows_before[kind]:>8,}{report.rows_after[kind]:>8,}"
            f"{change.added:>8,}{change.removed:>8,}{change.changed:>8,}{change.unchanged:>8,}"
        )
    lines.append(_rebuild_verdict(report, differed=not diff.unchanged))
    return "\n".join(lines)


def render_instance_rebuild(report: InstanceRebuildReport) -> str:
    lines = [
        *_rebuild_opening(report, f"instance {report.instance_id}", "calls", "no change (no call of it was pruned)"),
        f"  status                {report.after['status']}",
    ]
    changed = report.changed
    lines += [f"  {name:<21} {before!r} -> {after!r}" for name, (before, after) in changed.items()]
    lines.append(_rebuild_verdict(report, differed=bool(changed)))
    return "\n".join(lines)


def _tenant_fields(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    if before is None or after is None or before == after:
        return ""
    changed = [f"{name} {before[name]!r} -> {after[name]!r}" for name in before if before[name] != after.get(name)]
    return ": " + "; ".join(changed)


def _cut(text: str | None, width: int = _REASON_CHARS) -> str:
    if not text:
        return "-"
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_dead_letter_list(letters: Sequence[DeadLetterSummary], total: int) -> str:
    if not letters:
        return "no dead letters"
    lines = [f"{'ID':>6}  {'STATE':<8} {'FAILED AT (UTC)':<23}  {'TENANT':<20} {'INTERFACE':<15} {'EVENT':<32} REASON"]
    for letter in letters:
        reason = letter.reason
        if letter.state == "retried":
            reason = f"now {letter.retry_status}; had failed: {reason}"
        lines.append(
            f"{letter.dead_letter_id:>6}  {letter.state:<8} {when(letter.failed_at):<23}"
            f"  {_cut(letter.tenant_id, 20):<20} {_cut(letter.interface, 15):<15} {letter.event_id:<32}"
            f" {_cut(reason)}"
        )
    if total > len(letters):
        lines.append(f"({len(letters)} newest of {total}; --limit shows more)")
    return "\n".join(lines)


def render_dead_letter(detail: DeadLetterDetail) -> str:
    letter = detail.summary
    lines = [
        f"dead letter {letter.dead_letter_id}: {letter.state}",
        f"  event        {letter.event_id} (now {detail.event_status or 'no events row'})",
        f"  tenant       {letter.tenant_id}",
        f"  interface    {letter.interface}",
        f"  source       {letter.source_topic} partition {letter.source_partition} offset {letter.source_offset}"
        + ("  (an upload in parts, joined)" if letter.joined_parts else ""),
        f"  failures     {letter.failures}, first {when(letter.created_at)}, latest {when(letter.failed_at)}",
        f"  retried      {when(letter.retried_at)}" + (f" -> {letter.retry_status}" if letter.retry_status else ""),
        f"  dropped      {when(letter.dropped_at)}",
        f"  reason       {letter.reason}",
        f"  key          {detail.key.decode(errors='replace') if detail.key is not None else '-'}",
        "  headers      " + ", ".join(f"{name}={value}" for name, value in shown_headers(detail.headers)),
        f"  value        {len(detail.value or b''):,} bytes",
        preview_value(detail.value),
    ]
    return "\n".join(lines)


def preview_value(value: bytes | None) -> str:
    """The record value for a person: one line per field of the envelope and of its call, each value
    as compact JSON cut to a line's worth, secrets masked; bytes that are not JSON as their start,
    masked as the console masks them."""
    if value is None:
        return "    (no value)"
    try:
        data = masked_json(value)
    except (ValueError, UnicodeDecodeError):
        return "    " + repr(shown_text(value, _VALUE_PREVIEW_CHARS))  # repr: no control character reaches the terminal
    return "\n".join(_field_lines(data, "    "))


def masked_json(value: bytes) -> Any:
    """The value as JSON with its secrets redacted as the console redacts them; ValueError if not JSON."""
    return redact(json.loads(value))


def _field_lines(data: Any, indent: str) -> list[str]:
    if not isinstance(data, dict):
        return [indent + _cut(json.dumps(data, ensure_ascii=False), _VALUE_LINE_CHARS)]
    lines = []
    for key, value in data.items():
        if isinstance(value, dict) and len(indent) < 8:  # the envelope and its call; deeper stays compact
            lines += [f"{indent}{key}:", *_field_lines(value, indent + "  ")]
        else:
            text = json.dumps(value, ensure_ascii=False)
            more = f" ({len(value)} items)" if isinstance(value, list) and len(text) > _VALUE_LINE_CHARS else ""
            lines.append(f"{indent}{key}: {_cut(text, _VALUE_LINE_CHARS)}{more}")
    return lines


def render_retries(outcomes: Sequence[RetryOutcome], dry_run: bool) -> str:
    if not outcomes:
        return "no dead letters to retry"
    verb = "would be" if dry_run else "now"
    lines = [
        f"#{o.dead_letter_id} {o.event_id or '-'}: {verb} {o.result}" + (f" ({o.reason})" if o.reason else "")
        for o in outcomes
    ]
    counts = Counter(o.result for o in outcomes)
    lines.append(f"{len(outcomes)} retried{_dry(dry_run)}: {_breakdown(counts)}")
    return "\n".join(lines)


def render_drops(outcomes: Sequence[DropOutcome], dry_run: bool) -> str:
    lines = [
        f"#{o.dead_letter_id}: {'would be ' if dry_run and o.result == 'dropped' else ''}{o.result}"
        + (f" ({o.reason})" if o.reason else "")
        for o in outcomes
    ]
    lines.append(f"{sum(o.result == 'dropped' for o in outcomes)} dropped{_dry(dry_run)}")
    return "\n".join(lines)


def render_history(history: TenantHistory) -> str:
    if not history.entries:
        return f"no events of tenant {history.tenant_id}"
    columns = f"{'INTERFACE':<15} {'EVENT':<32} {'STATUS':<13} {'ACK':<11} REASON"
    lines = [f"{'TIME (UTC)':<23}  {'TIMESTAMP (UTC)':<23}  {columns}"]
    for entry in history.entries:
        reason = entry.reason
        if entry.dead_letter_id is not None:
            reason = f"[dlq #{entry.dead_letter_id} {entry.dead_letter_state}] {reason or ''}"
        if entry.duplicates:
            reason = f"(+{entry.duplicates} duplicates) {reason or ''}"
        ack = entry.ack if entry.ack != "pending" else f"pending({entry.ack_attempts})"
        lines.append(
            f"{when(entry.at):<23}  {when(entry.time_stamp):<23}  {_cut(entry.interface, 15):<15}"
            f" {entry.event_id:<32} {entry.status:<13} {ack:<11} {_cut(reason)}"
        )
    if history.more:
        lines.append("(older events exist: --limit or --since shows them)")
    if history.uploads_waiting:
        lines.append(f"{history.uploads_waiting} large calls accepted in parts are still waiting for their other parts")
    return "\n".join(lines)
