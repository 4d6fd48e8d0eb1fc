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
    """The targets of the second performance round (issue 18; end-to-end and gateway p99 from the first)."""
    share = _get(results, "gateway", "share_of_ceiling")
    cpu_vs_ceiling = _get(results, "gateway", "cpu_per_call_vs_ceiling")
    vs_fastapi = _get(results, "gateway", "vs_fastapi")
    p99 = _get(results, "gateway", "variants", "syncpipe", "fixed_rate_latency_ms", "p99")
    rate = _get(results, "apply", "syncpipe", "events_s")
    vs_naive = _get(results, "apply", "vs_naive")
    full_s = _get(results, "full_sync", "sizes", "100000", "applied_s")
    full_rss = _get(results, "full_sync", "sizes", "100000", "worker_peak_rss_mb")
    e2e = _get(results, "end_to_end", "accepted_to_applied_ms", "p99")
    ack_p99 = _get(results, "acks", "latency", "commit_to_received_ms", "p99")
    acks_s = _get(results, "acks", "throughput", "acks_s")
    return [
        _target("gateway throughput vs ceiling", ">= 45%", share, share is not None and share >= 0.45),
        _target(
            "gateway CPU per call vs ceiling",
            "<= 2.2x",
            cpu_vs_ceiling,
            cpu_vs_ceiling is not None and 0 < cpu_vs_ceiling <= 2.2,
        ),
        _target("gateway vs FastAPI + uvicorn", ">= 2x", vs_fastapi, vs_fastapi is not None and vs_fastapi >= 2),
        _target("gateway p99 at half saturation", "<= 20 ms", p99, p99 is not None and p99 <= 20),
        _target("apply changes/s", ">= 25,000/s", rate, rate is not None and rate >= 25_000),
        _target("apply vs naive consumer", ">= 15x", vs_naive, vs_naive is not None and vs_naive >= 15),
        _target("full sync 100k applied", "<= 1.5 s", full_s, full_s is not None and full_s <= 1.5),
        _target("full sync 100k worker peak RSS", "<= 300 MB", full_rss, full_rss is not None and full_rss <= 300),
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


def _verdict(found: list[Target], *names: str) -> str:
    """ "met" when every named target was met, "MISSED" when one was not, "-" when not measured."""
    chosen = [target for target in found if target.name in names]
    if any(target.met is None for target in chosen):
        return "-"
    return "met" if all(target.met for target in chosen) else "MISSED"


Row = tuple[str, str, str, str, str, str]


def _gateway_rows(gateway: dict[str, Any], found: list[Target]) -> list[Row]:
    v = gateway["variants"]
    sp, ceiling, fastapi, naive = v["syncpipe"], v["ceiling"], v["fastapi"], v["naive"]
    return [
        (
            "gateway",
            "signed calls/s at saturation",
            _n(sp["saturation_calls_s"]),
            f"ceiling {_n(ceiling['saturation_calls_s'])} ({gateway['share_of_ceiling']:.0%}); "
            f"FastAPI {_n(fastapi['saturation_calls_s'])}; naive {_n(naive['saturation_calls_s'])}",
            ">= 45% of ceiling",
            _verdict(found, "gateway throughput vs ceiling"),
        ),
        (
            "gateway",
            "server CPU us per call at saturation",
            f"{sp['server_cpu_us_per_call']:.0f}",
            f"ceiling {ceiling['server_cpu_us_per_call']:.0f} (x{gateway['cpu_per_call_vs_ceiling']:.2f}); "
            f"FastAPI {fastapi['server_cpu_us_per_call']:.0f}; naive {naive['server_cpu_us_per_call']:.0f}",
            "<= 2.2x ceiling",
            _verdict(found, "gateway CPU per call vs ceiling"),
        ),
        (
            "gateway",
            "vs FastAPI + uvicorn, send_and_wait(acks=all)",
            f"x{gateway['vs_fastapi']:.2f} calls/s",
            f"CPU per call x{gateway['cpu_per_call_vs_fastapi']:.2f} of FastAPI's",
            ">= 2x",
            _verdict(found, "gateway vs FastAPI + uvicorn"),
        ),
        (
            "gateway",
            f"p50 / p99 at {_n(gateway['fixed_rate_calls_s'])} calls/s",
            _ms(sp["fixed_rate_latency_ms"]),
            f"ceiling {_ms(ceiling['fixed_rate_latency_ms'])}; FastAPI {_ms(fastapi['fixed_rate_latency_ms'])}; "
            f"naive {_ms(naive['fixed_rate_latency_ms'])}",
            "p99 <= 20 ms",
            _verdict(found, "gateway p99 at half saturation"),
        ),
    ]


def _full_sync_rows(full_sync: dict[str, Any], found: list[Target]) -> list[Row]:
    rows: list[Row] = []
    for size, figure in full_sync["sizes"].items():
        big = size == "100000"
        rows.append(
            (
                "full sync",
                f"{int(size):,} departments ({figure['body_mb']:.1f} MB)",
                f"{figure['applied_s']:.2f} s, worker {figure['worker_peak_rss_mb']:.0f} MB",
                f"bare COPY {figure['bare_copy_s']:.2f} s; accepted in {figure['accepted_s']:.2f} s; "
                f"gateway peak {figure['gateway_peak_rss_mb']:.0f} MB",
                "<= 1.5 s, <= 300 MB" if big else "",
                _verdict(found, "full sync 100k applied", "full sync 100k worker peak RSS") if big else "",
            )
        )
    return rows


def _growth_rows(growth: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
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


def _scale_row(scale: dict[str, Any]) -> Row:
    by = scale["by_workers"]
    workers = sorted(by, key=int)
    return (
        "scale",
        f"apply changes/s with {' / '.join(workers)} worker processes",
        " / ".join(_n(by[count]["events_s"]) for count in workers),
        " / ".join(f"x{scale['speedup_vs_one'][count]:.2f}" for count in workers)
        + " of one; worker CPU us/event "
        + " / ".join(f"{by[count]['consumer_cpu_us_per_event']:.0f}" for count in workers)
        + f"; {scale['partitions']} partitions, {scale['cores']} cores",
        "report",
        "",
    )


def table_rows(results: dict[str, Any]) -> list[Row]:
    """(section, measure, syncpipe, baselines, target, verdict) rows for what this run measured."""
    found = targets(results)
    rows: list[Row] = []
    if gateway := results.get("gateway"):
        rows += _gateway_rows(gateway, found)
    if apply := results.get("apply"):
        rows.append(
            (
                "apply",
                f"changes/s Kafka -> Postgres ({apply['tenants']:,} tenants)",
                _n(apply["syncpipe"]["events_s"]),
                f"naive {_n(apply['naive']['events_s'])} (x{apply['vs_naive']:.1f}); "
                f"bare insert {_n(apply['bare_insert']['events_s'])} ({apply['share_of_bare_insert']:.0%})",
                ">= 25,000/s, >= 15x naive",
                _verdict(found, "apply changes/s", "apply vs naive consumer"),
            )
        )
    if full_sync := results.get("full_sync"):
        rows += _full_sync_rows(full_sync, found)
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
        rows += _growth_rows(growth)
    if scale := results.get("scale"):
        rows.append(_scale_row(scale))
    return rows


BrokerRow = tuple[str, str, str, str, str, str, str]


def broker_table_rows(results_by_broker: dict[str, dict[str, Any]]) -> list[BrokerRow]:
    """Every broker's rows with a broker column, section by section (the brokers in the order given)."""
    rows = [(broker, *row) for broker, results in results_by_broker.items() for row in table_rows(results)]
    sections = list(dict.fromkeys(row[1] for row in rows))
    return sorted(rows, key=lambda row: sections.index(row[1]))  # stable: brokers keep their order


def render(rows: list[BrokerRow]) -> str:
    header = ("broker", "section", "measure", "syncpipe", "baselines / detail", "target", "")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(lines)


def targets_json(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [asdict(target) for target in targets(results)]
