"""The one table and the JSON result: each figure next to its baselines, and each target met or not."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    name: str
    wanted: str
    measured: float | None
    met: bool | None  # None: not measured in this run


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
        with open("/proc/meminfo") as meminfo:
            memory_kb = int(next(line for line in meminfo if line.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration):
        memory_kb = 0
    return {
        "nproc": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "cpu_model": model,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def _get(results: dict[str, Any], *path: str) -> Any:
    value: Any = results
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _target(name: str, wanted: str, measured: float | None, ok: bool | None) -> Target:
    return Target(name, wanted, measured, None if measured is None else ok)


def targets(results: dict[str, Any]) -> list[Target]:
    share = _get(results, "gateway", "share_of_ceiling")
    p99 = _get(results, "gateway", "variants", "syncpipe", "fixed_rate_latency_ms", "p99")
    rate = _get(results, "apply", "syncpipe", "events_s")
    vs_naive = _get(results, "apply", "vs_naive")
    full_s = _get(results, "full_sync", "sizes", "100000", "applied_s")
    full_rss = _get(results, "full_sync", "sizes", "100000", "worker_peak_rss_mb")
    e2e = _get(results, "end_to_end", "accepted_to_applied_ms", "p99")
    ack_p99 = _get(results, "acks", "latency", "commit_to_received_ms", "p99")
    acks_s = _get(results, "acks", "throughput", "acks_s")
    return [
        _target("gateway throughput vs ceiling", ">= 60%", share, share is not None and share >= 0.6),
        _target("gateway p99 at half saturation", "<= 20 ms", p99, p99 is not None and p99 <= 20),
        _target("apply changes/s", ">= 10,000/s", rate, rate is not None and rate >= 10_000),
        _target("apply vs naive consumer", ">= 10x", vs_naive, vs_naive is not None and vs_naive >= 10),
        _target("full sync 100k applied", "<= 3 s", full_s, full_s is not None and full_s <= 3),
        _target("full sync 100k worker peak RSS", "<= 400 MB", full_rss, full_rss is not None and full_rss <= 400),
        _target("end-to-end p99 at 1,000 calls/s", "<= 250 ms", e2e, e2e is not None and e2e <= 250),
        _target(
            "ack p99 commit -> received at 1,000 events/s", "<= 500 ms", ack_p99, ack_p99 is not None and ack_p99 <= 500
        ),
        _target("acks/s to a verifying receiver", ">= 5,000/s", acks_s, acks_s is not None and acks_s >= 5000),
    ]


def _n(value: float) -> str:
    return f"{value:,.0f}"


def _ms(latency: dict[str, float]) -> str:
    return f"{latency['p50']:.1f} / {latency['p99']:.1f} ms"


def _verdict(found: list[Target], name: str) -> str:
    target = next(t for t in found if t.name == name)
    return "-" if target.met is None else ("met" if target.met else "MISSED")


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """(section, measure, syncpipe, baselines, target, verdict) rows for what this run measured."""
    found = targets(results)
    rows: list[tuple[str, str, str, str, str, str]] = []
    if gateway := results.get("gateway"):
        v = gateway["variants"]
        sp, ceiling, naive = v["syncpipe"], v["ceiling"], v["naive"]
        rows.append(
            (
                "gateway",
                "signed calls/s at saturation",
                _n(sp["saturation_calls_s"]),
                f"ceiling {_n(ceiling['saturation_calls_s'])} ({gateway['share_of_ceiling']:.0%}); "
                f"naive {_n(naive['saturation_calls_s'])}",
                ">= 60% of ceiling",
                _verdict(found, "gateway throughput vs ceiling"),
            )
        )
        rows.append(
            (
                "gateway",
                f"p50 / p99 at {_n(gateway['fixed_rate_calls_s'])} calls/s",
                _ms(sp["fixed_rate_latency_ms"]),
                f"ceiling {_ms(ceiling['fixed_rate_latency_ms'])}; naive {_ms(naive['fixed_rate_latency_ms'])}",
                "p99 <= 20 ms",
                _verdict(found, "gateway p99 at half saturation"),
            )
        )
    if apply := results.get("apply"):
        rows.append(
            (
                "apply",
                f"changes/s Kafka -> Postgres ({apply['tenants']:,} tenants)",
                _n(apply["syncpipe"]["events_s"]),
                f"naive {_n(apply['naive']['events_s'])} (x{apply['vs_naive']:.1f}); "
                f"bare insert {_n(apply['bare_insert']['events_s'])} ({apply['share_of_bare_insert']:.0%})",
                ">= 10,000/s, >= 10x naive",
                "met"
                if _verdict(found, "apply changes/s") == _verdict(found, "apply vs naive consumer") == "met"
                else "MISSED",
            )
        )
    for size, figure in (results.get("full_sync") or {}).get("sizes", {}).items():
        big = size == "100000"
        rows.append(
            (
                "full sync",
                f"{int(size):,} departments ({figure['body_mb']:.1f} MB)",
                f"{figure['applied_s']:.2f} s, worker {figure['worker_peak_rss_mb']:.0f} MB",
                f"accepted in {figure['accepted_s']:.2f} s; gateway peak {figure['gateway_peak_rss_mb']:.0f} MB",
                "<= 3 s, <= 400 MB" if big else "",
                (
                    "met"
                    if _verdict(found, "full sync 100k applied")
                    == _verdict(found, "full sync 100k worker peak RSS")
                    == "met"
                    else "MISSED"
                )
                if big
                else "",
            )
        )
    if e2e := results.get("end_to_end"):
        rows.append(
            (
                "end to end",
                f"000000 -> applied p50 / p99 at {_n(e2e['rate_calls_s'])} calls/s",
                _ms(e2e["accepted_to_applied_ms"]),
                f"{e2e['calls']:,} calls, {e2e['tenants']:,} tenants; gateway {_ms(e2e['gateway_latency_ms'])}",
                "p99 <= 250 ms",
                _verdict(found, "end-to-end p99 at 1,000 calls/s"),
            )
        )
    if acks := results.get("acks"):
        latency = acks["latency"]
        poll_only = acks.get("latency_poll_only")
        rows.append(
            (
                "acks",
                f"commit -> received p50 / p99 at {_n(acks['rate_events_s'])} events/s",
                _ms(latency["commit_to_received_ms"]),
                f"written at {_n(latency['written_events_s'])} events/s"
                + (f"; polling every 0.2 s, no LISTEN {_ms(poll_only['commit_to_received_ms'])}" if poll_only else ""),
                "p99 <= 500 ms",
                _verdict(found, "ack p99 commit -> received at 1,000 events/s"),
            )
        )
        throughput = acks["throughput"]
        rows.append(
            (
                "acks",
                "acks/s to a receiver verifying signatures",
                _n(throughput["acks_s"]),
                f"CPU per ack: acker {throughput['acker_cpu_us_per_ack']:.0f} us, "
                f"receiver {throughput['receiver_cpu_us_per_ack']:.0f} us",
                ">= 5,000/s",
                _verdict(found, "acks/s to a verifying receiver"),
            )
        )
    if growth := results.get("growth"):
        if apply_growth := growth.get("apply"):
            few, many = sorted(apply_growth["by_tenants"], key=int)
            by = apply_growth["by_tenants"]
            rows.append(
                (
                    "growth",
                    f"apply us/event, {int(few):,} vs {int(many):,} tenants",
                    f"{by[few]['us_per_event']:.0f} vs {by[many]['us_per_event']:.0f}",
                    f"x{apply_growth['cost_ratio_many_vs_few']:.2f} per event; worker CPU "
                    f"{by[few]['consumer_cpu_us_per_event']:.0f} vs {by[many]['consumer_cpu_us_per_event']:.0f} us",
                    "flat",
                    "",
                )
            )
        if full := growth.get("full_sync"):
            rows.append(
                (
                    "growth",
                    "full sync us/department by size",
                    " / ".join(f"{value:.1f}" for value in full["us_per_department"].values()),
                    "sizes " + " / ".join(f"{int(size):,}" for size in full["us_per_department"]),
                    "linear",
                    "",
                )
            )
    return rows


def render(rows: list[tuple[str, str, str, str, str, str]]) -> str:
    header = ("section", "measure", "syncpipe", "baselines / detail", "target", "")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def targets_json(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [asdict(target) for target in targets(results)]
