"""The benchmark harness still runs: its smallest configuration end to end, on the brokers of
SYNCPIPE_TEST_BROKERS: every section on Tansu, and on Apache Kafka the sections that produce and
consume on its three nodes, checked for a well-formed result. Never a timing
assertion (figures from a smoke run mean nothing; see docs/benchmarks-howto.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WHOLE_MACHINE, brokers_under_test

REPO = Path(__file__).resolve().parents[2]
# A smoke run takes ~40 s per broker on a quiet 2-core machine (the three Kafka JVMs start in ~15 s of
# it), ~110 s on a loaded one; generous for a loaded CI runner.
_TIMEOUT_S = 480
# The harness starts its own embedded brokers; pointed at an external one, the suite smoke-tests Tansu.
_BROKERS = [name for name in ("apache", "tansu") if name in brokers_under_test()] or ["tansu"]

pytestmark = [pytest.mark.integration, WHOLE_MACHINE]


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


def smoke_run(tmp_path: Path, broker: str, *only: str) -> dict[str, Any]:
    """The harness's smallest run on one broker (`only`: these sections), its result checked for shape."""
    output = tmp_path / f"result-{broker}.json"
    sections = ["--only", ",".join(only)] if only else []
    finished = run_module("benchmarks", "--smoke", "--broker", broker, *sections, "--output", str(output))
    document: dict[str, Any] = json.loads(output.read_text())
    assert document["schema"] == "syncpipe-benchmarks/2"
    assert document["mode"] == "smoke"
    assert {"nproc", "memory_gb", "cpu_model", "python", "load_average_before"} <= document["machine"].keys()
    assert list(document["results"]) == [broker]
    assert all(row[0] == broker for row in document["table"])
    assert document["table"][0][:2] == [broker, "gateway"]
    assert finished.stdout.startswith("broker | section")  # the table's header was printed
    assert all({"name", "wanted", "measured", "met"} <= target.keys() for target in document["targets"][broker])
    return document


def assert_gateway_variants_answered(results: dict[str, Any]) -> None:
    assert set(results["gateway"]["variants"]) == {"syncpipe", "ceiling", "fastapi", "naive"}
    for variant in results["gateway"]["variants"].values():
        assert variant["saturation_calls_s"] > 0
        assert set(variant["saturation_codes"]) == {"000000"}
        assert set(variant["fixed_rate_codes"]) == {"000000"}


def test_smoke_run_writes_a_well_formed_result(tmp_path: Path) -> None:
    """Every section, on the first broker of SYNCPIPE_TEST_BROKERS that starts in milliseconds (Tansu)."""
    broker = _BROKERS[-1]
    document = smoke_run(tmp_path, broker)
    results = document["results"][broker]
    assert len(document["targets"][broker]) == 11  # gateway 4, apply 2, full sync 2, end to end 1, acks 2
    sections = {"gateway", "apply", "full_sync", "end_to_end", "acks", "growth", "scale"}
    assert sections <= results.keys()
    assert all(results[section]["broker"] == broker for section in sections)
    assert_gateway_variants_answered(results)
    for consumer in ("syncpipe", "naive"):
        assert results["apply"][consumer]["events_s"] > 0
    for figure in results["full_sync"]["sizes"].values():
        assert figure["status"] == "applied"
        assert figure["bare_copy_s"] > 0
    assert set(results["end_to_end"]["statuses"]) == {"applied"}
    scale = results["scale"]["by_workers"]
    assert {workers: run["processes"] for workers, run in scale.items()} == {"1": 1, "2": 2, "3": 3}
    assert all(run["applied_rows"] == run["events"] + 300 for run in scale.values())  # with the warm-up's


@pytest.mark.parametrize("broker", [name for name in _BROKERS if name == "apache"])
def test_on_apache_kafka_the_harness_runs_on_the_production_shape(tmp_path: Path, broker: str) -> None:
    """What differs on Apache Kafka (its three nodes, topics read back, a producer and a group on a real
    coordinator), through the sections that produce and consume; the others share their code with Tansu."""
    document = smoke_run(tmp_path, broker, "gateway", "apply")
    results = document["results"][broker]
    assert {results["gateway"]["broker"], results["apply"]["broker"]} == {broker}
    assert_gateway_variants_answered(results)
    assert results["apply"]["syncpipe"]["events_s"] > 0
    # The production shape, as the broker reports its topics: three replicas, two must hold a write.
    topics = document["brokers"][broker]["topic_read_back"]
    assert (topics["replicas"], topics["in_sync"], topics["min.insync.replicas"]) == ([3], [3], "2")


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
