"""The generated histories: valid, deterministic, realistic, and rich in the cases SPEC §5 cares about."""

from __future__ import annotations

import json
import re
from collections import defaultdict

import pytest

from schemas.calls import AllOrgSync, AnyCall, AuthSync, Interface, parse_call
from schemas.event_id import event_id
from syncpipe.simulation.generator import (
    MAX_USERS_PER_CALL,
    PlatformCall,
    WorkloadSizes,
    generate_history,
    tenant_ids,
)
from syncpipe.simulation.model import expected_state
from syncpipe.simulation.org_tree import OrgTree

SIZES = WorkloadSizes(departments_per_tenant=25, users_per_tenant=30, changes_per_tenant=40)


@pytest.fixture(scope="module")
def history() -> list[PlatformCall]:
    return generate_history(seed=11, tenants=30, sizes=SIZES)


@pytest.fixture(scope="module")
def parsed(history: list[PlatformCall]) -> list[AnyCall]:
    return [parse_call(call.interface, call.body) for call in history]


def by_tenant(calls: list[PlatformCall]) -> dict[str, list[PlatformCall]]:
    grouped: dict[str, list[PlatformCall]] = defaultdict(list)
    for call in calls:
        grouped[call.body["tenantId"]].append(call)
    return grouped


def test_the_same_seed_gives_the_same_history_and_another_seed_another() -> None:
    tiny = WorkloadSizes(departments_per_tenant=5, users_per_tenant=4, changes_per_tenant=10)
    assert generate_history(3, 4, tiny) == generate_history(3, 4, tiny)
    assert generate_history(3, 4, tiny) != generate_history(4, 4, tiny)


def test_a_tenants_history_does_not_depend_on_how_many_tenants_there_are() -> None:
    tiny = WorkloadSizes(departments_per_tenant=5, users_per_tenant=4, changes_per_tenant=10)
    few, many = by_tenant(generate_history(5, 2, tiny)), by_tenant(generate_history(5, 6, tiny))
    assert set(few) < set(many)
    assert all(few[tenant] == many[tenant] for tenant in few)


def test_tenant_ids_change_with_the_seed_and_the_sizes() -> None:
    assert tenant_ids(1, 2, SIZES) != tenant_ids(2, 2, SIZES)
    assert tenant_ids(1, 2, SIZES) != tenant_ids(1, 2, WorkloadSizes(users_per_tenant=1))
    assert len(set(tenant_ids(1, 500, SIZES))) == 500


def test_every_body_validates_and_every_call_is_distinct(history: list[PlatformCall], parsed: list[AnyCall]) -> None:
    assert len(history) > 30 * 40
    assert len({event_id(call) for call in parsed}) == len(parsed)
    assert {call.interface for call in history} == set(Interface)


def test_timestamps_are_unique_and_increasing_within_each_tenant(history: list[PlatformCall]) -> None:
    for calls in by_tenant(history).values():
        stamps = [call.body["timeStamp"] for call in calls]
        assert stamps == sorted(stamps)
        assert len(set(stamps)) == len(stamps)
        assert all(re.fullmatch(r"\d{17}", stamp) for stamp in stamps)


def test_each_tenant_is_created_first_then_gets_apps_and_two_full_snapshots(history: list[PlatformCall]) -> None:
    for calls in by_tenant(history).values():
        assert (calls[0].interface, calls[0].body["flag"]) == (Interface.TENANT_SYNC, 1)
        assert calls[1].interface == Interface.APPLICATION_SYNC
        assert sum(call.interface == Interface.ALL_ORG_SYNC for call in calls) >= 2


def test_user_batches_respect_the_platform_limit() -> None:
    sizes = WorkloadSizes(departments_per_tenant=3, users_per_tenant=1200, changes_per_tenant=0)
    calls = [parse_call(call.interface, call.body) for call in generate_history(1, 1, sizes)]
    batches = [len(call.userList) for call in calls if isinstance(call, AuthSync)]
    assert max(batches) == MAX_USERS_PER_CALL
    assert len(expected_state(calls)[calls[0].tenantId].users) == 1200


def test_org_trees_are_three_to_six_levels_deep(parsed: list[AnyCall]) -> None:
    first_snapshots: dict[str, AllOrgSync] = {}
    for call in parsed:
        if isinstance(call, AllOrgSync):
            first_snapshots.setdefault(call.tenantId, call)
    depths = set()
    for snapshot in first_snapshots.values():
        tree = OrgTree()
        tree.departments = {org.orgCode: (org.orgName, org.parentCode) for org in snapshot.orgInfoList}
        depths.add(max(tree.depth(code) for code in tree.departments) + 1)
    assert depths <= {3, 4, 5, 6}
    assert len(depths) >= 3


def test_names_mix_chinese_japanese_and_latin_scripts(parsed: list[AnyCall]) -> None:
    text = json.dumps([call.model_dump() for call in parsed], ensure_ascii=False)
    assert re.search(r"[\u4e00-\u9fff]部", text)
    assert re.search(r"[\u30a0-\u30ff]", text)
    assert re.search(r"\"orgName\": \"[A-Z][a-z]+", text)


def test_the_history_holds_the_hard_cases(history: list[PlatformCall], parsed: list[AnyCall]) -> None:
    flags = {(call.interface, call.body.get("flag"), call.body["testFlag"]) for call in history}
    assert (Interface.TENANT_SYNC, 0, 0) in flags
    assert (Interface.TENANT_SYNC, 0, 1) in flags
    assert {(Interface.AUTH_SYNC, flag, 0) for flag in (0, 1, 2, 3)} <= flags
    assert {(Interface.SINGLE_ORG_SYNC, flag, 0) for flag in (0, 1, 2)} <= flags
    assert {(Interface.APPLICATION_SYNC, flag, 0) for flag in (0, 1, 2)} <= flags
    final = expected_state(parsed).values()
    assert any(dept["orphan"] for tenant in final for dept in tenant.departments)
    assert any(dept["cycle"] for tenant in final for dept in tenant.departments)
    assert any(user["orphan"] for tenant in final for user in tenant.users)
    assert all(tenant.tenant is not None and not tenant.tenant["deleted"] for tenant in final)


def test_a_deleted_tenant_is_readded_and_repopulated(history: list[PlatformCall]) -> None:
    readded = 0
    for calls in by_tenant(history).values():
        kinds = [(call.interface, call.body.get("flag"), call.body["testFlag"]) for call in calls]
        if (Interface.TENANT_SYNC, 0, 0) in kinds:
            after = kinds[kinds.index((Interface.TENANT_SYNC, 0, 0)) + 1 :]
            assert after[0] == (Interface.TENANT_SYNC, 1, 0)
            assert (Interface.ALL_ORG_SYNC, None, 0) in after
            readded += 1
    assert readded >= 2


def test_some_bodies_use_the_wire_quirks_real_senders_use(history: list[PlatformCall]) -> None:
    bodies = [call.body for call in history]
    assert any(isinstance(body.get("orgInfoList"), str) for body in bodies)
    org_lists = [body["orgInfoList"] for body in bodies if isinstance(body.get("orgInfoList"), list)]
    assert any("OrgName" in org for listed in org_lists for org in listed)
    users = [user for body in bodies for user in body.get("userList", ())]
    assert any("extension" in user for user in users)
    assert {user["enable"] for user in users} == {"true", "false"}
    assert any("operator" in body for body in bodies)


def test_tiny_sizes_still_make_a_valid_history() -> None:
    calls = generate_history(0, 2, WorkloadSizes(departments_per_tenant=1, users_per_tenant=0, changes_per_tenant=0))
    parsed = [parse_call(call.interface, call.body) for call in calls]
    assert all(len(snapshot.departments) == 1 for snapshot in expected_state(parsed).values())


def test_sizes_are_validated() -> None:
    with pytest.raises(ValueError, match="at least one department"):
        WorkloadSizes(departments_per_tenant=0)
