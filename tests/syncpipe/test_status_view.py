"""The figures of `syncpipe up`'s status area, read from a registry as the processes fill it."""

from __future__ import annotations

import io
import sys

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge

from syncpipe.cli import _status_view
from syncpipe.status_view import LiveView, PlainView, StreamView, read_status, status_rows


def test_the_status_reads_the_registry_and_counts_refusals_apart_from_not_yet_answers() -> None:
    registry = CollectorRegistry()
    calls = Counter("syncpipe_gateway_calls", "", ["interface", "result_code"], registry=registry)
    events = Counter("syncpipe_worker_events", "", ["status", "interface"], registry=registry)
    Gauge("syncpipe_ack_pending", "", registry=registry).set(3)
    calls.labels("tenantSync", "000000").inc(10)
    calls.labels("newInstance", "000004").inc(2)
    calls.labels("tenantSync", "000001").inc(1)
    events.labels("applied", "tenantSync").inc(9)
    events.labels("stale", "tenantSync").inc(1)
    before = read_status(registry, {"gateway": "ok"}, None, at=0.0)
    calls.labels("tenantSync", "000000").inc(20)
    now = read_status(registry, {"gateway": "ok"}, "running", at=2.0)
    assert (now.accepted, now.not_yet, now.refused, now.acks_pending) == (30, 2, 1, 3)
    rows = dict(status_rows(now, before))
    assert rows["calls"] == "30 accepted (10/s), 1 refused, 2 instance answers not ready yet (000003/000004)"
    assert rows["events"].startswith("9 applied, 1 stale, 0 duplicate")
    assert rows["demo"] == "running"


class _Stdout(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    ("tty", "term", "verbose", "view"),
    [
        (True, "xterm-256color", False, LiveView),
        (True, "dumb", False, PlainView),  # a terminal that cannot move the cursor: plain lines
        (True, None, False, PlainView),
        (False, "xterm-256color", False, PlainView),  # piped, in CI
        (True, "xterm-256color", True, StreamView),  # --verbose: the log stream
    ],
)
def test_the_view_fits_where_its_lines_go(
    monkeypatch: pytest.MonkeyPatch, tty: bool, term: str | None, verbose: bool, view: type
) -> None:
    monkeypatch.setattr(sys, "stdout", _Stdout(tty))
    if term is None:
        monkeypatch.delenv("TERM", raising=False)
    else:
        monkeypatch.setenv("TERM", term)
    assert type(_status_view(verbose)) is view
