"""The soak still runs: its smallest configuration end to end, checked for a well-formed result and for
what it exists to show (rows kept stop growing once the horizon is reached; re-sent calls are
duplicates within it and stale beyond it). Never a timing or size assertion: see docs/benchmarks-howto.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.benchmarks.test_harness import run_module
from tests.conftest import WHOLE_MACHINE

pytestmark = [pytest.mark.integration, WHOLE_MACHINE]


def test_the_smoke_soak_writes_a_well_formed_result_whose_kept_rows_plateau(tmp_path: Path) -> None:
    output = tmp_path / "soak.json"
    finished = run_module("benchmarks.soak", "--smoke", "--output", str(output))

    document = json.loads(output.read_text())
    assert document["schema"] == "syncpipe-soak/1"
    days = document["days"]
    assert [day["day"] for day in days] == list(range(document["config"]["days"]))
    for day in days:
        assert set(day["sizes"]) == {"events", "ack_outbox", "checkpoints", "state", "other", "database"}
        assert all(size["table"] > 0 for group, size in day["sizes"].items() if group != "other")
    kept = document["config"]["retention_events_days"]
    steady = [day for day in days if day["day"] > kept]
    assert steady, "the smoke run reaches the horizon"
    # A day's events are dropped once past the horizon: from then on, the rows kept stay level.
    first, last = steady[0]["rows"]["events"], steady[-1]["rows"]["events"]
    assert abs(last - first) <= 0.05 * first
    assert days[kept]["rows"]["events"] > days[0]["rows"]["events"]  # growing until then
    assert all(day["day_prune"]["events_folded"] > 0 for day in steady)
    statuses = {status for day in days for status in day["statuses"]}
    assert {"applied", "duplicate", "stale"} <= statuses
    assert statuses <= {"applied", "duplicate", "stale", "test"}
    assert {"plateau", "bytes_per_tenant", "bytes_per_retained_call"} <= document["steady_state"].keys()
    assert "| day | calls |" in finished.stdout
