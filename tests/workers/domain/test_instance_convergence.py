"""The convergence property of SPEC §9 on the instance rules alone (no services).

Any set of instance calls, delivered in any order, with any duplicates, in batches of any size (each
batch loading only the instances it names, as the applier does), ends where applying the distinct
calls one by one in signing-time order ends (the reference model), ready or not.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.instance_calls import AppInfo, instance_of, parse_instance_change
from schemas.instance_envelope import signed_time
from syncpipe.simulation.instance_model import SignedCall, expected_instances, served_instance
from tests.workers.instance_histories import INSTANCES, deliveries, lifecycles
from workers.domain.instance_rules import (
    NotProvisionable,
    apply_instance_change,
    provide_app_info,
    provision_from_template,
)
from workers.domain.instance_state import InstanceState, InstanceStatus, LoggedChange
from workers.domain.instance_views import render_instance
from workers.domain.records import Outcome

NOW = datetime(2026, 1, 5, tzinfo=UTC)


class FakeInstanceStore:
    """What the instances table keeps: each instance's changes and appInfo (the log as stored, as JSON)."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[list[dict[str, object]], AppInfo | None]] = {}

    def load(self, instance_id: str) -> InstanceState:
        logged, app_info = self.rows.get(instance_id, ([], None))
        changes = [LoggedChange.from_json(dict(entry)) for entry in logged]
        return InstanceState(instance_id, {change.event_id: change for change in changes}, app_info)

    def save(self, state: InstanceState) -> None:
        if state.changed:
            self.rows[state.instance_id] = ([change.to_json() for change in state.changes.values()], state.app_info)


def apply_in_batches(delivered: list[SignedCall], batch_sizes: list[int], store: FakeInstanceStore) -> list[Outcome]:
    seen: set[str] = set()
    outcomes = []
    position = 0
    sizes = iter(batch_sizes)
    while position < len(delivered):
        batch = delivered[position : position + next(sizes, 1)]
        position += len(batch)
        fresh = []
        for signed in batch:
            if signed.event_id not in seen:
                seen.add(signed.event_id)
                fresh.append(signed)
        states = {instance_of(signed.call): store.load(instance_of(signed.call)) for signed in fresh}
        for signed in fresh:
            state = states[instance_of(signed.call)]
            outcomes.append(
                apply_instance_change(state, signed.event_id, signed_time(signed.signed_at_ms), signed.call)
            )
        for state in states.values():
            store.save(state)
    return outcomes


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_order_with_duplicates_in_any_batches_converges_to_the_signing_order(data: st.DataObject) -> None:
    calls = data.draw(lifecycles())
    delivered = data.draw(deliveries(calls))
    batch_sizes = data.draw(st.lists(st.integers(min_value=1, max_value=6), max_size=len(delivered)))
    ready = data.draw(st.sets(st.sampled_from(INSTANCES)))
    store = FakeInstanceStore()

    apply_in_batches(delivered, batch_sizes, store)
    for instance_id in ready:
        state = store.load(instance_id)
        if state.changes and state.status is InstanceStatus.PROVISIONING:
            provide_app_info(state, AppInfo(frontEndUrl=f"https://x/{instance_id}"), NOW)
            store.save(state)

    served = {instance_id: served_instance(render_instance(store.load(instance_id))) for instance_id in store.rows}
    expected = expected_instances(calls, ready={i for i in ready if store.load(i).app_info is not None})
    assert served == expected


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_delivering_everything_again_changes_nothing_and_is_stale(data: st.DataObject) -> None:
    calls = data.draw(lifecycles())
    store = FakeInstanceStore()
    apply_in_batches(calls, [3], store)
    before = {instance_id: render_instance(store.load(instance_id)) for instance_id in store.rows}
    # A replay from a database that lost its dedupe rows: the instance's own log still recognises them.
    again = apply_in_batches(data.draw(deliveries(calls)), [2], store)
    assert {instance_id: render_instance(store.load(instance_id)) for instance_id in store.rows} == before
    assert set(again) <= {Outcome.STALE, Outcome.TEST}


def signed(body: dict[str, str], at_ms: int) -> SignedCall:
    return SignedCall(parse_instance_change(body), at_ms)


INSTANCE = INSTANCES[0]
NEW = {"activity": "newInstance", "orderId": "CS-A", "orderLineId": "CS-A-000001"}


def test_a_release_followed_by_a_late_freeze_stays_released_whatever_the_freeze_was_signed_at() -> None:
    for freeze_at in (150, 300):  # signed before the release and after it
        store = FakeInstanceStore()
        freeze = {"activity": "updateInstanceStatus", "instanceId": INSTANCE, "status": "FREEZE"}
        release = {"activity": "releaseInstance", "instanceId": INSTANCE}
        outcomes = apply_in_batches(
            [signed(NEW, 100), signed(release, 200), signed(freeze, freeze_at)], [1, 1, 1], store
        )
        state = store.load(INSTANCE)
        assert state.status is InstanceStatus.RELEASED
        assert outcomes[-1] == (Outcome.APPLIED if freeze_at < 200 else Outcome.STALE)


def test_a_late_release_cuts_off_the_calls_signed_after_it() -> None:
    renew = {
        "activity": "refreshInstance",
        "instanceId": INSTANCE,
        "scene": "RENEWAL",
        "orderId": "CS-R",
        "orderLineId": "CS-R-1",
        "expireTime": "20280101000000",
    }
    release = {"activity": "releaseInstance", "instanceId": INSTANCE}
    store = FakeInstanceStore()
    apply_in_batches([signed(NEW, 100), signed(renew, 300), signed(release, 200)], [1, 1, 1], store)
    shown = render_instance(store.load(INSTANCE))
    assert (shown["status"], shown["expireTime"], shown["orderId"]) == ("released", "", "CS-A")


def test_calls_before_their_new_instance_wait_and_count_once_it_arrives() -> None:
    freeze = {"activity": "updateInstanceStatus", "instanceId": INSTANCE, "status": "FREEZE"}
    store = FakeInstanceStore()
    apply_in_batches([signed(freeze, 50)], [1], store)
    assert store.load(INSTANCE).status is InstanceStatus.WAITING
    with_template = store.load(INSTANCE)
    assert not provision_from_template(with_template, "https://app/{instanceId}", NOW)

    apply_in_batches([signed(NEW, 100)], [1], store)
    state = store.load(INSTANCE)
    assert state.status is InstanceStatus.PROVISIONING
    assert provision_from_template(state, "https://app/i/{instanceId}", NOW)
    assert state.app_info == AppInfo(frontEndUrl=f"https://app/i/{INSTANCE}")
    assert state.status is InstanceStatus.FROZEN  # the freeze, signed earlier, still counts


def test_a_re_sent_new_instance_opens_nothing_new_and_a_debug_call_changes_nothing() -> None:
    store = FakeInstanceStore()
    debug = {**NEW, "orderLineId": "CS-A-000009", "testFlag": "1"}
    outcomes = apply_in_batches(
        [signed(NEW, 100), signed({**NEW, "businessId": "b2"}, 500), signed(debug, 600)], [3], store
    )
    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED, Outcome.TEST]
    assert list(store.rows) == [INSTANCE]
    assert len(store.load(INSTANCE).changes) == 2


def test_the_merchant_cannot_provision_a_waiting_or_released_instance() -> None:
    store = FakeInstanceStore()
    apply_in_batches([signed({"activity": "releaseInstance", "instanceId": INSTANCE}, 50)], [1], store)
    with pytest.raises(NotProvisionable, match="newInstance has not arrived"):
        provide_app_info(store.load(INSTANCE), AppInfo(frontEndUrl="https://x"), NOW)
    apply_in_batches([signed(NEW, 100)], [1], store)
    assert store.load(INSTANCE).status is InstanceStatus.RELEASED
    with pytest.raises(NotProvisionable, match="released"):
        provide_app_info(store.load(INSTANCE), AppInfo(frontEndUrl="https://x"), NOW)
