"""The benchmark harness still runs: its smallest configuration end to end, checked for a well-formed
result. Never a timing assertion (figures from a smoke run mean nothing; see docs/benchmarks-howto.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The smoke run takes ~20 s on a quiet 2-core machine; generous for a loaded CI runner.
_TIMEOUT_S = 180

pytestmark = pytest.mark.integration


def run_module(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m module args…` from the repository root; asserts it exited 0."""
    finished = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return finished


def test_smoke_run_writes_a_well_formed_result(tmp_path: Path) -> None:
    output = tmp_path / "result.json"
    finished = run_module("benchmarks", "--smoke", "--output", str(output))

    document = json.loads(output.read_text())
    assert document["schema"] == "syncpipe-benchmarks/1"
    assert document["mode"] == "smoke"
    assert {"nproc", "memory_gb", "cpu_model", "python"} <= document["machine"].keys()
    results = document["results"]
    assert {"gateway", "apply", "full_sync", "end_to_end", "growth"} <= results.keys()
    assert set(results["gateway"]["variants"]) == {"syncpipe", "ceiling", "naive"}
    for variant in results["gateway"]["variants"].values():
        assert variant["saturation_calls_s"] > 0
        assert set(variant["fixed_rate_codes"]) == {"000000"}
    for consumer in ("syncpipe", "naive"):
        assert results["apply"][consumer]["events_s"] > 0
    assert all(figure["status"] == "applied" for figure in results["full_sync"]["sizes"].values())
    assert set(results["end_to_end"]["statuses"]) == {"applied"}
    assert len(document["targets"]) == 7
    assert all({"name", "wanted", "measured", "met"} <= target.keys() for target in document["targets"])
    assert document["table"], "the table has rows"
    assert "section" in finished.stdout  # the table's header was printed


def test_the_gateway_parts_run_measures_every_variant() -> None:
    finished = run_module("benchmarks.gateway_parts", "--rounds", "1", "--duration", "0.5")
    rows = {line.split("|")[0].strip(): line.split("|")[1:] for line in finished.stdout.splitlines()[2:]}
    assert set(rows) == {
        "gateway",
        "gateway, tracing on",
        "gateway, no line per call",
        "no broker",
        "no broker, no line per call",
        "ceiling",
    }
    for calls_s, cpu_us, _ in rows.values():
        assert float(calls_s.replace(",", "")) > 0  # every call answered 000000 counts; none counted nothing
        assert float(cpu_us) > 0


def test_the_gateway_abuse_run_measures_every_phase(tmp_path: Path) -> None:
    output = tmp_path / "abuse.json"
    arguments = ["--idle-connections", "2", "--idle-calls", "2", "--duration", "0.5", "--departments", "20000"]
    run_module("benchmarks.gateway_abuse", *arguments, "--output", str(output))
    phases = json.loads(output.read_text())
    assert [name.split(":")[0] for name in phases] == ["idle", "idle", "large", "large"]
    assert all(phase["calls"] > 0 and phase["p99_ms"] > 0 for phase in phases.values())
