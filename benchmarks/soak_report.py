"""The soak's figures: sizes per simulated day, whether they plateau, and what a tenant, a retained call
and a prune cost once the horizon is reached."""

from __future__ import annotations

from statistics import mean, median
from typing import Any

from benchmarks.soak_workload import SoakShape
from workers.retention.prune import RetentionPolicy

MB = 1_000_000
# Steady storage wobbles from day to day (the checkpoints are rewritten daily, and a table freed by
# VACUUM alternates between two sets of pages; a weekly full snapshot falls on a kept day or not), so
# the second half of the steady days is compared with the first: more than this is growth, not a plateau.
PLATEAU_TOLERANCE = 0.05
_GROUPS = ("events", "ack_outbox", "checkpoints", "state", "other")


def _bytes(day: dict[str, Any], *groups: str) -> int:
    return sum(day["sizes"][group]["table"] + day["sizes"][group]["index"] for group in groups)


def steady_state(days: list[dict[str, Any]], shape: SoakShape, policy: RetentionPolicy) -> dict[str, Any]:
    """Figures over the days after the first day of events was dropped (the horizon is reached)."""
    kept_days = policy.events.days
    steady = [day for day in days if day["day"] > kept_days]
    if len(steady) < 2:
        return {"steady_days": [day["day"] for day in steady], "note": "too few days past the horizon to judge"}
    totals = [_bytes(day, *_GROUPS) for day in steady]
    history = [_bytes(day, "events", "ack_outbox") for day in steady]
    per_tenant = _bytes(steady[-1], "state", "checkpoints") / shape.tenants
    retained = mean(day["rows"]["events"] for day in steady)
    calls_per_day = mean(day["calls"] for day in steady)
    prunes = [day["day_prune"] for day in steady if day["day_prune"] and day["day_prune"]["events_folded"]]
    growth = {group: _half_growth([_bytes(day, group) for day in steady]) for group in _GROUPS}
    growth["total"] = _half_growth(totals)
    return {
        "steady_days": [day["day"] for day in steady],
        "plateau": abs(growth["total"]) <= PLATEAU_TOLERANCE,
        "growth_second_half_vs_first": {group: round(change, 4) for group, change in growth.items()},
        "total_bytes_min_max": [min(totals), max(totals)],
        "history_bytes_mean": round(mean(history)),
        "events_kept_mean": round(retained),
        "calls_per_day_mean": round(calls_per_day),
        "bytes_per_tenant": round(per_tenant),
        "bytes_per_retained_call": round(mean(history) / retained),
        "bytes_per_call_per_day_of_retention": round(mean(history) / calls_per_day / (kept_days + 1)),
        # Medians: a run on a shared machine is only ever slowed down by the others' work.
        "prune_s_median": round(median(prune["seconds"] for prune in prunes), 3) if prunes else None,
        "prune_events_folded_median": round(median(prune["events_folded"] for prune in prunes)) if prunes else None,
        "prune_us_per_folded_event_median": round(
            median(1e6 * prune["seconds"] / prune["events_folded"] for prune in prunes), 1
        )
        if prunes
        else None,
    }


def _half_growth(values: list[int]) -> float:
    """Mean of the second half of `values` against the mean of the first half, as a fraction."""
    half = len(values) // 2
    first, second = mean(values[:half]), mean(values[-half:])
    return (second - first) / first if first else 0.0


def render_days(document: dict[str, Any]) -> str:
    """The Markdown table of BENCHMARKS.md: sizes in MB (table + indexes) at the end of each day."""
    header = (
        "| day | calls | events kept | events table / index | ack_outbox | checkpoints | state | total"
        " | prune that dropped a day |\n|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    lines = [header]
    for day in document["days"]:
        sizes = day["sizes"]
        prune = day["day_prune"]
        dropped = (
            f"{prune['seconds']:.2f} s, {prune['events_folded']:,} events folded"
            if prune and prune["events_partitions_dropped"]
            else "—"
        )
        total = _bytes(day, *_GROUPS)
        lines.append(
            f"| {day['day']} | {day['calls']:,} | {day['rows']['events']:,}"
            f" | {sizes['events']['table'] / MB:.1f} / {sizes['events']['index'] / MB:.1f}"
            f" | {_bytes(day, 'ack_outbox') / MB:.2f} | {_bytes(day, 'checkpoints') / MB:.1f}"
            f" | {_bytes(day, 'state') / MB:.1f} | {total / MB:.1f} | {dropped} |"
        )
    steady = document["steady_state"]
    if "plateau" in steady:
        low, high = steady["total_bytes_min_max"]
        lines += [
            "",
            f"Steady days {steady['steady_days'][0]}-{steady['steady_days'][-1]}:"
            f" total {low / MB:.1f}-{high / MB:.1f} MB; second half against the first:"
            + ",".join(f" {group} {change:+.1%}" for group, change in steady["growth_second_half_vs_first"].items())
            + f" (plateau: {'yes' if steady['plateau'] else 'NO'});"
            f" {steady['bytes_per_tenant']:,} bytes per tenant (state + checkpoint);"
            f" {steady['bytes_per_retained_call']:,} bytes per retained call (events + acks, indexes included),"
            f" i.e. {steady['bytes_per_call_per_day_of_retention']:,} bytes per call/day per day kept;"
            f" one prune dropping a day (median): {steady['prune_s_median']} s for"
            f" {steady['prune_events_folded_median']:,} events folded"
            f" ({steady['prune_us_per_folded_event_median']} us per event).",
        ]
    else:
        lines += ["", steady["note"]]
    return "\n".join(lines)
