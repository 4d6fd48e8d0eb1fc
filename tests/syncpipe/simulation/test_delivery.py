"""The delivery order: a bounded shuffle of the history plus verbatim re-sends."""

from __future__ import annotations

from collections import Counter

import pytest

from schemas.calls import parse_call
from schemas.event_id import event_id
from syncpipe.simulation.delivery import delivery_order
from syncpipe.simulation.generator import PlatformCall, WorkloadSizes, generate_history
from syncpipe.simulation.model import expected_state

CALLS = generate_history(2, 6, WorkloadSizes(departments_per_tenant=8, users_per_tenant=6, changes_per_tenant=30))


def positions(calls: list[PlatformCall]) -> dict[int, int]:
    return {id(call.body): index for index, call in enumerate(calls)}


def test_without_a_window_or_resends_the_order_is_kept() -> None:
    assert [d.call for d in delivery_order(CALLS, 1, window=0, resend_fraction=0)] == CALLS


def test_each_call_is_delivered_once_and_moves_at_most_about_a_window() -> None:
    window = 10
    deliveries = delivery_order(CALLS, 1, window=window, resend_fraction=0)
    assert Counter(id(d.call.body) for d in deliveries) == Counter(id(call.body) for call in CALLS)
    before = positions(CALLS)
    moves = [abs(index - before[id(d.call.body)]) for index, d in enumerate(deliveries)]
    assert 0 < max(moves) <= window
    assert [d.call for d in deliveries] != CALLS


def test_a_fraction_is_resent_verbatim_after_its_original() -> None:
    deliveries = delivery_order(CALLS, 1, window=5, resend_fraction=0.1)
    resent = [index for index, d in enumerate(deliveries) if d.resend]
    assert len(resent) == round(len(CALLS) * 0.1)
    first_seen: dict[int, int] = {}
    for index, d in enumerate(deliveries):
        first_seen.setdefault(id(d.call.body), index)
    for index in resent:
        original = deliveries[first_seen[id(deliveries[index].call.body)]]
        assert not original.resend
        assert first_seen[id(original.call.body)] < index
        assert original.call is deliveries[index].call


def test_the_order_is_deterministic_and_changes_with_the_seed() -> None:
    assert delivery_order(CALLS, 1) == delivery_order(CALLS, 1)
    assert delivery_order(CALLS, 1) != delivery_order(CALLS, 2)


def test_the_delivered_calls_converge_to_the_history() -> None:
    delivered = [parse_call(d.call.interface, d.call.body) for d in delivery_order(CALLS, 3, resend_fraction=0.2)]
    history = [parse_call(call.interface, call.body) for call in CALLS]
    assert len({event_id(call) for call in delivered}) == len(history)
    assert expected_state(delivered) == expected_state(history)


@pytest.mark.parametrize(("window", "fraction"), [(-1, 0.0), (5, 1.5), (5, -0.1)])
def test_bad_arguments_are_refused(window: int, fraction: float) -> None:
    with pytest.raises(ValueError, match="window"):
        delivery_order(CALLS, 1, window=window, resend_fraction=fraction)
