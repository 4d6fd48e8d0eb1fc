"""The metric names the docs give (README.md and docs/*.md: the metrics table, the alert rules, the
retention and sign-in pages) are names the processes serve, every metric served is in the operators'
table, and all of them follow one scheme: `syncpipe_<component>_<what>`, counters ending in `_total`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.metrics import GatewayMetrics
from read_api.metrics import ApiMetrics
from runtime.ops_server import Metrics
from signin.metrics import SignInMetrics
from workers.acks.metrics import AckerMetrics
from workers.acks.outbox import NEW_ACKS_CHANNEL
from workers.applier.metrics import WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OPERATING = ROOT / "docs" / "operating.md"
# `syncpipe_*` names in the docs that are not metrics.
NOT_METRICS = frozenset({NEW_ACKS_CHANNEL})  # the outbox's LISTEN channel
# One prefix per component (the acker's is `syncpipe_ack_`, never `syncpipe_acks_`); the sign-in's main
# counter is the component's name alone: `syncpipe_signin_total`.
SCHEME = re.compile(r"syncpipe_(build|gateway|worker|ack|retention|api|signin)(_[a-z0-9_]+)?")
# What a scrape shows of each kind of family.
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("", "_bucket", "_sum", "_count")}


def served_families() -> dict[str, str]:
    """Every syncpipe family any process registers (name -> type): `up` registers them all on one registry."""
    metrics = Metrics()
    GatewayMetrics(metrics.registry)
    WorkerMetrics(metrics)  # and the retention metrics of the worker
    AckerMetrics(metrics)
    ApiMetrics(metrics.registry)
    SignInMetrics(metrics.registry)
    return {family.name: family.type for family in metrics.registry.collect()}


def served_names() -> set[str]:
    return {name + suffix for name, kind in served_families().items() for suffix in SUFFIXES[kind]}


def test_every_metric_the_docs_name_is_served() -> None:
    served = served_names()
    unknown = sorted(
        f"{doc.relative_to(ROOT)}: {name}"
        for doc in DOCS
        for name in set(re.findall(r"\bsyncpipe_[a-z0-9_]+", doc.read_text(encoding="utf-8")))
        if name not in served and name not in NOT_METRICS
    )
    assert not unknown, f"names in the docs that no process serves: {unknown}"


def test_every_metric_served_is_in_the_operators_table() -> None:
    text = OPERATING.read_text(encoding="utf-8")
    shown = {
        name: next((n for n in [name, *(name + suffix for suffix in SUFFIXES[kind])] if f"`{n}" in text), None)
        for name, kind in served_families().items()
    }
    assert [name for name, found in shown.items() if found is None] == [], "metrics docs/operating.md does not name"


@pytest.mark.parametrize("name", sorted(served_families()))
def test_one_naming_scheme(name: str) -> None:
    assert SCHEME.fullmatch(name), name
