"""Percentiles as the tables report them."""

from __future__ import annotations

from collections.abc import Sequence


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (share in 0..1) of unsorted `values`; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(share * len(ordered) + 0.5) - 1))]


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p90, p99 and max, in milliseconds."""
    return {
        "count": float(len(seconds)),
        "p50": percentile(seconds, 0.50) * 1000,
        "p90": percentile(seconds, 0.90) * 1000,
        "p99": percentile(seconds, 0.99) * 1000,
        "max": (max(seconds) if seconds else 0.0) * 1000,
    }
