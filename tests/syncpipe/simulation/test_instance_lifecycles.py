"""The simulator's order lifecycles and their comparison with the model, without a pipeline."""

from __future__ import annotations

from collections import Counter
from typing import Any

from schemas.instance_calls import AppInfo, instance_of, parse_instance_call, parse_instance_change
from schemas.instance_envelope import signed_time
from syncpipe.simulation.instance_lifecycles import generate_lifecycles
from syncpipe.simulation.instance_model import SignedCall
from syncpipe.simulation.instance_report import tally_instances
from syncpipe.simulation.instance_runner import InstanceRun
from workers.domain.instance_rules import apply_instance_change, provide_app_info
from workers.domain.instance_state import InstanceState
from workers.domain.instance_views import render_instance


def test_lifecycles_are_deterministic_valid_and_meet_every_habit_of_the_platform() -> None:
    lifecycles = generate_lifecycles(3, 60)
    assert [cycle.changes for cycle in lifecycles] == [cycle.changes for cycle in generate_lifecycles(3, 60)]
    assert len({cycle.instance_id for cycle in lifecycles}) == 60
    assert not {cycle.instance_id for cycle in lifecycles} & {cycle.instance_id for cycle in generate_lifecycles(4, 60)}
    activities: Counter[str] = Counter()
    for cycle in lifecycles:
        assert instance_of(parse_instance_change(cycle.buy())) == cycle.instance_id
        for body in [*cycle.early, *cycle.changes, cycle.late_freeze_call()]:
            call = parse_instance_change(body)
            assert instance_of(call) == cycle.instance_id
            activities[call.kind if not call.debug else "debug"] += 1
        if cycle.debug_buy is not None:
            assert parse_instance_call(cycle.debug_buy).debug
        if cycle.released:
            assert cycle.changes[-1]["activity"] == "releaseInstance"
    assert set(activities) == {"refreshInstance", "updateInstanceStatus", "upgradeInstance", "releaseInstance", "debug"}
    assert any(cycle.early for cycle in lifecycles)
    assert any(cycle.debug_buy for cycle in lifecycles)
    assert any(cycle.late_freeze for cycle in lifecycles)
    assert any(len(cycle.changes) != len({str(sorted(body.items())) for body in cycle.changes}) for cycle in lifecycles)


class ServedFrom:
    """A read API serving instances as the pipeline's view renders them (one may be tampered with)."""

    def __init__(self, states: dict[str, InstanceState]) -> None:
        self.served = {instance_id: render_instance(state) for instance_id, state in states.items()}

    async def instance(self, instance_id: str) -> dict[str, Any] | None:
        return self.served.get(instance_id)


async def test_the_tally_finds_every_instance_that_differs_from_its_model() -> None:
    lifecycles = generate_lifecycles(5, 4)
    run = InstanceRun(lifecycles)
    states: dict[str, InstanceState] = {}
    for index, cycle in enumerate(lifecycles):
        state = states.setdefault(cycle.instance_id, InstanceState(cycle.instance_id))
        for offset, body in enumerate([cycle.buy(), *cycle.changes]):
            signed = SignedCall(parse_instance_change(body), 1_767_600_000_000 + index * 1000 + offset)
            run.accepted.append(signed)
            apply_instance_change(state, signed.event_id, signed_time(signed.signed_at_ms), signed.call)
        if not cycle.released:
            provide_app_info(state, AppInfo.model_validate(cycle.app_info()), signed_time(0))
            run.ready.add(cycle.instance_id)
    api = ServedFrom(states)

    assert (await tally_instances(run, api, concurrency=2)).mismatches == []

    first, second = lifecycles[0].instance_id, lifecycles[1].instance_id
    api.served[first] = {**api.served[first], "expireTime": "19990101000000"}
    del api.served[second]
    tally = await tally_instances(run, api, concurrency=2)
    assert [mismatch.instance_id for mismatch in tally.mismatches] == [first, second]
    assert "expireTime expected" in tally.mismatches[0].differences[0]
    assert not tally.ok
