"""What `syncpipe up` shows while it runs: one status area, not the log stream.

In a terminal a live area is redrawn in place (rich); on a dumb terminal or when stdout is a pipe, a
plain line every few seconds, never an escape code. The figures come from the process's own metrics
registry, the same numbers `/metrics` serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import NamedTuple, Protocol, TextIO

from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.live import Live
from rich.table import Table

# The live area is redrawn this often: smooth enough to see the pipeline move, cheap on 2 cores.
LIVE_REFRESH_S = 0.5
# A piped run writes one line this often: a two-minute demo leaves about 25 lines.
PLAIN_INTERVAL_S = 5.0
ACCEPTED = "000000"
# Answers that refuse nothing: an instance not ready yet (000004: a newInstance is stored, a
# queryInstance polled too early) or not known (000003).
NOT_YET = frozenset({"000003", "000004"})


class Status(NamedTuple):
    """The pipeline at one instant."""

    at: float  # time.monotonic()
    calls: Mapping[str, float]  # calls answered, by resultCode
    events: Mapping[str, float]  # events finished, by status
    acks_sent: float
    acks_pending: float
    lag: float
    health: Mapping[str, str]  # component -> ok / starting / stopped
    demo: str | None  # what the demo is doing, if it runs

    @property
    def accepted(self) -> float:
        return self.calls.get(ACCEPTED, 0.0)

    @property
    def not_yet(self) -> float:
        return sum(count for code, count in self.calls.items() if code in NOT_YET)

    @property
    def refused(self) -> float:
        return sum(count for code, count in self.calls.items() if code != ACCEPTED and code not in NOT_YET)


def read_status(
    registry: CollectorRegistry, health: Mapping[str, str], demo: str | None, at: float | None = None
) -> Status:
    """The figures of `registry` (its gauges as last refreshed by a scrape)."""
    calls: dict[str, float] = {}
    events: dict[str, float] = {}
    sums = {"syncpipe_ack_sent_total": 0.0, "syncpipe_ack_pending": 0.0, "syncpipe_worker_consumer_lag": 0.0}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == "syncpipe_gateway_calls_total":
                code = sample.labels["result_code"]
                calls[code] = calls.get(code, 0.0) + sample.value
            elif sample.name == "syncpipe_worker_events_total":
                status = sample.labels["status"]
                events[status] = events.get(status, 0.0) + sample.value
            elif sample.name in sums:
                sums[sample.name] += sample.value
    return Status(
        at=time.monotonic() if at is None else at,
        calls=calls,
        events=events,
        acks_sent=sums["syncpipe_ack_sent_total"],
        acks_pending=sums["syncpipe_ack_pending"],
        lag=sums["syncpipe_worker_consumer_lag"],
        health=dict(health),
        demo=demo,
    )


def rate(now: Status, before: Status | None) -> float:
    """Calls accepted per second since `before`."""
    if before is None or now.at <= before.at:
        return 0.0
    return (now.accepted - before.accepted) / (now.at - before.at)


def _n(value: float) -> str:
    return f"{int(value):,}"


def status_rows(now: Status, before: Status | None) -> list[tuple[str, str]]:
    events = now.events
    not_yet = f", {_n(now.not_yet)} instance answers not ready yet (000003/000004)" if now.not_yet else ""
    finished = ", ".join(
        f"{_n(events.get(status, 0))} {status.replace('_', '-')}"
        for status in ("applied", "stale", "duplicate", "test", "dead_lettered")
    )
    rows = [
        ("calls", f"{_n(now.accepted)} accepted ({rate(now, before):,.0f}/s), {_n(now.refused)} refused{not_yet}"),
        ("events", finished),
        ("acks", f"{_n(now.acks_sent)} sent, {_n(now.acks_pending)} pending"),
        ("lag", f"{_n(now.lag)} records not yet read by the worker"),
        ("health", "  ".join(f"{name} {state}" for name, state in now.health.items())),
    ]
    if now.demo:
        rows.append(("demo", now.demo))
    return rows


class StatusView(Protocol):
    def say(self, line: str) -> None:
        """A line above the status area (where things are, the demo's summary)."""

    async def run(self, sample: Callable[[], Awaitable[Status]], stop: asyncio.Event) -> None:
        """Show `sample()` until `stop` is set, then once more."""


class StreamView:
    """`--verbose`: the log stream on stderr is the status; lines go to stdout as they come."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def say(self, line: str) -> None:
        print(line, file=self._stream, flush=True)

    async def run(self, sample: Callable[[], Awaitable[Status]], stop: asyncio.Event) -> None:
        await stop.wait()


class LiveView:
    """The status area of a terminal, redrawn in place."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def say(self, line: str) -> None:
        self._console.print(line, markup=False, highlight=False)

    async def run(self, sample: Callable[[], Awaitable[Status]], stop: asyncio.Event) -> None:
        before: Status | None = None
        with Live(console=self._console, auto_refresh=False, transient=False) as live:
            while True:
                now = await sample()
                live.update(_table(status_rows(now, before)), refresh=True)
                before = now
                if stop.is_set():
                    return
                await _wait(stop, LIVE_REFRESH_S)


class PlainView(StreamView):
    """A line every PLAIN_INTERVAL_S on a pipe or a dumb terminal: `calls …; events …; acks …`."""

    async def run(self, sample: Callable[[], Awaitable[Status]], stop: asyncio.Event) -> None:
        before: Status | None = None
        while True:
            await _wait(stop, PLAIN_INTERVAL_S)
            now = await sample()
            self.say("status: " + "; ".join(f"{name} {text}" for name, text in status_rows(now, before)))
            before = now
            if stop.is_set():
                return


def _table(rows: Iterable[tuple[str, str]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for name, text in rows:
        table.add_row(name, text)
    return table


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
