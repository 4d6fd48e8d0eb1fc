"""What the order lifecycle part of a run found: every instance against its model, and the answers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from syncpipe.simulation.concurrency import bounded_gather
from syncpipe.simulation.instance_model import InstanceSnapshot, expected_instances, served_instance
from syncpipe.simulation.instance_runner import InstanceRun


class InstanceReader(Protocol):
    async def instance(self, instance_id: str) -> dict[str, Any] | None:
        """`GET /v1/instances/{id}`, None on 404 (syncpipe.simulation.read_api.ReadApiClient)."""


@dataclass(frozen=True)
class InstanceMismatch:
    instance_id: str
    differences: Sequence[str]


@dataclass(frozen=True)
class InstanceTally:
    """`requests` counts every POST (retries, polls and re-sends included); `problems`: answers that
    break SPEC §9 (a wrong code, another instance id, an appInfo not served back)."""

    instances: int
    requests: int
    answers: Mapping[str, int]
    changes_accepted: int
    mismatches: Sequence[InstanceMismatch]
    problems: Sequence[str]
    figures: Mapping[str, int]

    @property
    def converged(self) -> int:
        return self.instances - len(self.mismatches)

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.problems

    def render_lines(self, max_shown: int = 5) -> list[str]:
        answers = ", ".join(f"{code}: {count}" for code, count in sorted(self.answers.items())) or "none"
        lines = [
            f"  instances         {self.converged}/{self.instances} converged; {self.requests} instance calls"
            f" ({self.changes_accepted} changes stored; answers {answers})",
        ]
        lines += [f"    {name:<48} {count}" for name, count in sorted(self.figures.items())]
        lines += [f"    problem: {problem}" for problem in self.problems[:max_shown]]
        for mismatch in self.mismatches[:max_shown]:
            lines.append(f"    instance {mismatch.instance_id}: " + "; ".join(mismatch.differences[:3]))
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "instances": self.instances,
            "converged": self.converged,
            "requests": self.requests,
            "changesAccepted": self.changes_accepted,
            "answers": dict(self.answers),
            "figures": dict(self.figures),
            "problems": list(self.problems),
            "mismatches": [{"instanceId": m.instance_id, "differences": list(m.differences)} for m in self.mismatches],
        }


async def tally_instances(run: InstanceRun, read_api: InstanceReader, *, concurrency: int) -> InstanceTally:
    """Read every instance of the run back and compare it with the model (the pipeline has settled)."""
    expected = expected_instances(run.accepted, ready=run.ready)

    async def compare(instance_id: str, app_info: dict[str, str]) -> InstanceMismatch | None:
        served = await read_api.instance(instance_id)
        differences = _differences(expected.get(instance_id), served)
        if served is not None and instance_id in run.ready:
            shown = served.get("appInfo") or {}
            wanted = {key: value for key, value in app_info.items() if key != "password"}
            if {key: shown.get(key) for key in wanted} != wanted or shown.get("passwordSet") is not True:
                differences.append(f"appInfo expected {wanted} got {shown}")
        return InstanceMismatch(instance_id, differences) if differences else None

    compared = await bounded_gather(
        (compare(cycle.instance_id, cycle.app_info()) for cycle in run.lifecycles), concurrency
    )
    problems = list(run.problems)
    for debug_id in sorted(run.debug_instances):
        if await read_api.instance(debug_id) is not None:
            problems.append(f"a debug newInstance opened instance {debug_id}")
    return InstanceTally(
        instances=len(run.lifecycles),
        requests=run.requests,
        answers=dict(run.answers),
        changes_accepted=len(run.event_ids),
        mismatches=[mismatch for mismatch in compared if mismatch is not None],
        problems=problems,
        figures=dict(run.figures),
    )


def _differences(expected: InstanceSnapshot | None, served: dict[str, Any] | None) -> list[str]:
    if expected is None or served is None:
        return [] if expected is None and served is None else [f"expected {expected}, served {served}"]
    try:
        actual = served_instance(served)
    except (KeyError, TypeError) as exc:
        return [f"the read API's answer lacks {exc}: {served!r:.200}"]
    wanted, got = expected.to_json(), actual.to_json()
    return [f"{name} expected {wanted[name]!r} got {got[name]!r}" for name in wanted if wanted[name] != got[name]]
