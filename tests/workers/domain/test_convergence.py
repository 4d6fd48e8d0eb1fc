"""The convergence property of SPEC §5 on the domain rules alone (no services).

Any set of calls for a tenant, delivered in any order, with any duplicates, in batches of any
size (each batch loading only the records it needs, as the applier does), ends in the state of
applying the distinct calls one by one in timeStamp order (the reference model).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.calls import AnyCall, parse_call
from schemas.event_id import event_id
from syncpipe.simulation.model import expected_state
from syncpipe.simulation.snapshot import TenantSnapshot
from tests.workers.fake_state_store import FakeStateStore
from tests.workers.histories import MIXES, deliveries, histories
from workers.domain.keys import StateKeys
from workers.domain.records import Outcome
from workers.domain.rules import apply_call

TENANT = "t-prop"


def apply_in_batches(delivered: list[AnyCall], batch_sizes: list[int]) -> tuple[FakeStateStore, list[Outcome]]:
    store = FakeStateStore()
    seen: set[str] = set()
    outcomes = []
    position = 0
    sizes = iter(batch_sizes)
    while position < len(delivered):
        batch = delivered[position : position + next(sizes, 1)]
        position += len(batch)
        fresh = []
        for call in batch:
            if event_id(call) not in seen:
                seen.add(event_id(call))
                fresh.append(call)
        keys = StateKeys()
        for call in fresh:
            keys.add(call)
        state = store.load(TENANT, keys)
        outcomes += [apply_call(state, call) for call in fresh]
        store.save(state.changes())
    return store, outcomes


@pytest.mark.parametrize("mix", sorted(MIXES))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_order_with_duplicates_in_any_batches_converges_to_the_timestamp_order(
    mix: str, data: st.DataObject
) -> None:
    calls = data.draw(histories(TENANT, max_calls=30, interfaces=MIXES[mix]))
    delivered = data.draw(deliveries(calls))
    batch_sizes = data.draw(st.lists(st.integers(min_value=1, max_value=8), max_size=len(delivered)))

    store, _ = apply_in_batches(delivered, batch_sizes)

    expected = expected_state(calls).get(TENANT, TenantSnapshot())
    assert store.snapshot(TENANT) == expected


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_replaying_everything_again_changes_nothing(data: st.DataObject) -> None:
    calls = data.draw(histories(TENANT))
    store, _ = apply_in_batches(calls, [3])
    before = store.snapshot(TENANT)
    # A replay re-delivers the same calls: a fresh dedupe set must still leave the state alone.
    for call in data.draw(deliveries(calls)):
        keys = StateKeys()
        keys.add(call)
        state = store.load(TENANT, keys)
        apply_call(state, call)
        store.save(state.changes())
    assert store.snapshot(TENANT) == before


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_call_applied_again_without_its_dedupe_row_is_stale_and_changes_nothing(data: st.DataObject) -> None:
    """What a call re-sent after retention dropped its events row meets (docs/retention.md): every
    record it would write is at its version or newer, or below a floor, so it is stale, not applied."""
    calls = data.draw(histories(TENANT))
    store, _ = apply_in_batches(calls, [3])
    again = data.draw(st.sampled_from(calls))
    keys = StateKeys()
    keys.add(again)
    state = store.load(TENANT, keys)
    outcome = apply_call(state, again)
    assert outcome is (Outcome.TEST if again.testFlag == 1 else Outcome.STALE)
    assert state.changes().empty


def _call(interface: str, time_stamp: str, **fields: object) -> AnyCall:
    return parse_call(interface, {"tenantId": TENANT, "timeStamp": time_stamp, **fields})


def test_a_change_older_than_the_entity_is_stale_and_a_tombstone_blocks_an_older_add() -> None:
    delete = _call("singleOrgSync", "20260101000000300", flag=0, orgCode="A")
    older_add = _call("singleOrgSync", "20260101000000100", flag=1, orgCode="A", orgName="x")
    store, outcomes = apply_in_batches([delete, older_add], [1, 1])
    assert outcomes == [Outcome.APPLIED, Outcome.STALE]
    assert store.snapshot(TENANT).departments == []


def test_a_late_tenant_delete_keeps_the_newer_re_creation_but_drops_what_predates_the_delete() -> None:
    department = _call("singleOrgSync", "20260101000000100", flag=1, orgCode="A", orgName="old")
    re_created = _call("tenantSync", "20260101000000300", flag=1, name="back")
    newer_department = _call("singleOrgSync", "20260101000000400", flag=1, orgCode="B", orgName="new")
    late_delete = _call("tenantSync", "20260101000000200", flag=0, name="gone")
    store, outcomes = apply_in_batches([department, re_created, newer_department, late_delete], [1, 1, 1, 1])
    snapshot = store.snapshot(TENANT)
    assert outcomes[-1] == Outcome.APPLIED  # the record stays, the floor still rose
    assert snapshot.tenant is not None
    assert (snapshot.tenant["name"], snapshot.tenant["deleted"]) == ("back", False)
    assert [d["orgCode"] for d in snapshot.departments] == ["B"]


def test_a_late_user_delete_drops_only_authorisations_older_than_it() -> None:
    def auth(time_stamp: str, flag: int, app: str) -> AnyCall:
        return _call("authSync", time_stamp, flag=flag, appId=app, userList=[{"userName": "u1", "name": "n"}])

    store, _ = apply_in_batches(
        [
            auth("20260101000000100", 1, "app1"),
            auth("20260101000000300", 1, "app2"),
            auth("20260101000000200", 0, "app1"),
        ],
        [1, 1, 1],
    )
    [user] = store.snapshot(TENANT).users
    assert user["authorizedApps"] == ["app2"]


def test_a_full_sync_keeps_newer_changes_and_drops_older_unlisted_departments() -> None:
    older = _call("singleOrgSync", "20260101000000100", flag=1, orgCode="A", orgName="a")
    newer = _call("singleOrgSync", "20260101000000300", flag=1, orgCode="B", orgName="b")
    snapshot_call = _call("allOrgSync", "20260101000000200", orgInfoList=[{"orgCode": "C", "orgName": "c"}])
    late_older_add = _call("singleOrgSync", "20260101000000150", flag=1, orgCode="D", orgName="d")
    store, outcomes = apply_in_batches([older, newer, snapshot_call, late_older_add], [2, 1, 1])
    assert [d["orgCode"] for d in store.snapshot(TENANT).departments] == ["B", "C"]
    assert outcomes[-1] == Outcome.STALE


def test_a_test_call_changes_nothing_whatever_its_flag() -> None:
    probe = _call("tenantSync", "20260101000000100", flag=0, testFlag=1)
    store, outcomes = apply_in_batches([probe], [1])
    assert outcomes == [Outcome.TEST]
    assert store.snapshot(TENANT) == TenantSnapshot()
