"""The reference model: each rule of SPEC §5 in its naive form, and the rendered shapes of SPEC §7."""

from __future__ import annotations

import random
from typing import Any

from schemas.calls import AnyCall, parse_call
from syncpipe.simulation.model import applicable_calls, expected_state
from syncpipe.simulation.snapshot import TenantSnapshot, departments_on_cycles

TENANT = "t-model"


def ts(n: int) -> str:
    """A distinct platform timestamp for each n, increasing with n."""
    return f"20250301120000{n:03d}"


def call(interface: str, n: int, tenant: str = TENANT, **fields: Any) -> AnyCall:
    return parse_call(interface, {"tenantId": tenant, "instanceId": "inst-1", "timeStamp": ts(n), **fields})


def tenant_sync(n: int, flag: int, name: str = "Acme 股份", **fields: Any) -> AnyCall:
    return call(
        "tenantSync", n, flag=flag, name=name, tenantCode="acme", domainName="https://sso", orderId="o1", **fields
    )


def dept(n: int, code: str, flag: int = 1, name: str = "", parent: str = "") -> AnyCall:
    return call("singleOrgSync", n, orgCode=code, orgName=name or f"部门{code}", parentCode=parent, flag=flag)


def all_org(n: int, *orgs: tuple[str, str]) -> AnyCall:
    listed = [{"orgCode": code, "orgName": f"部门{code}", "parentCode": parent} for code, parent in orgs]
    return call("allOrgSync", n, orgInfoList=listed)


def user(user_name: str, org: str = "", **fields: Any) -> dict[str, Any]:
    return {
        "userName": user_name,
        "name": user_name.title(),
        "orgCode": org,
        "role": "user",
        "enable": "true",
        **fields,
    }


def auth(n: int, app: str, flag: int, *users: dict[str, Any]) -> AnyCall:
    return call("authSync", n, appId=app, flag=flag, userList=list(users), currentSyncTime=ts(n))


def app(n: int, app_id: str, flag: int = 1, client: str = "client") -> AnyCall:
    return call("applicationSync", n, appId=app_id, clientId=client, clientSecret="c2VjcmV0", flag=flag)


def state_of(*calls: AnyCall, tenant: str = TENANT) -> TenantSnapshot:
    return expected_state(calls)[tenant]


def codes(items: list[dict[str, Any]], key: str) -> list[str]:
    return [item[key] for item in items]


def by_code(snapshot: TenantSnapshot) -> dict[str, dict[str, Any]]:
    return {item["orgCode"]: item for item in snapshot.departments}


def test_tenant_add_renders_the_record() -> None:
    assert state_of(tenant_sync(1, 1)).tenant == {
        "tenantId": TENANT,
        "tenantCode": "acme",
        "name": "Acme 股份",
        "domainName": "https://sso",
        "instanceId": "inst-1",
        "orderId": "o1",
        "deleted": False,
    }


def test_tenant_modify_overwrites_the_record() -> None:
    snapshot = state_of(tenant_sync(1, 1), tenant_sync(2, 2, name="Acme 2"))
    assert snapshot.tenant is not None
    assert snapshot.tenant["name"] == "Acme 2"


def test_tenant_delete_keeps_a_deleted_record_and_wipes_everything_under_it() -> None:
    snapshot = state_of(
        tenant_sync(1, 1),
        app(2, "app-1"),
        dept(3, "D1"),
        auth(4, "app-1", 1, user("ann", "D1")),
        tenant_sync(5, 0, name="gone"),
    )
    assert snapshot.tenant is not None
    assert snapshot.tenant["deleted"] is True
    assert snapshot.tenant["name"] == "gone"
    assert snapshot == TenantSnapshot(tenant=snapshot.tenant)


def test_tenant_readded_after_delete_comes_back_empty_with_only_newer_content() -> None:
    snapshot = state_of(
        tenant_sync(1, 1),
        dept(2, "D1"),
        auth(3, "app-1", 1, user("ann")),
        tenant_sync(4, 0),
        tenant_sync(5, 1),
        dept(6, "D2"),
        auth(7, "app-2", 1, user("ann")),
    )
    assert snapshot.tenant is not None
    assert snapshot.tenant["deleted"] is False
    assert codes(snapshot.departments, "orgCode") == ["D2"]
    assert snapshot.users[0]["authorizedApps"] == ["app-2"]


def test_content_without_a_tenant_record_is_kept_and_the_tenant_is_none() -> None:
    snapshot = state_of(dept(1, "D1"))
    assert snapshot.tenant is None
    assert codes(snapshot.departments, "orgCode") == ["D1"]


def test_content_after_a_tenant_delete_is_kept_on_the_deleted_tenant() -> None:
    snapshot = state_of(tenant_sync(1, 1), tenant_sync(2, 0), dept(3, "D1"))
    assert snapshot.tenant is not None
    assert snapshot.tenant["deleted"] is True
    assert codes(snapshot.departments, "orgCode") == ["D1"]


def test_applications_are_bound_modified_and_unbound_without_their_secret() -> None:
    snapshot = state_of(app(1, "b"), app(2, "a"), app(3, "a", flag=2, client="new"), app(4, "c"), app(5, "c", flag=0))
    assert snapshot.applications == [
        {"appId": "a", "clientId": "new", "instanceId": "inst-1"},
        {"appId": "b", "clientId": "client", "instanceId": "inst-1"},
    ]


def test_auth_add_stores_the_entry_as_sent_and_authorises_the_user() -> None:
    entry = user("ann", "D1", enable="false", position="工程师", employeeType=2, custom={"x": 1})
    entry["extension"] = {"email": "ann@example.com"}
    snapshot = state_of(dept(1, "D1"), auth(2, "app-1", 1, entry))
    assert snapshot.users == [
        {
            "userName": "ann",
            "name": "Ann",
            "orgCode": "D1",
            "role": "user",
            "enable": False,
            "position": "工程师",
            "employeeType": 2,
            "email": "ann@example.com",
            "custom": {"x": 1},
            "extension": {"email": "ann@example.com"},
            "authorizedApps": ["app-1"],
            "orphan": False,
        }
    ]


def test_auth_modify_replaces_the_entry_and_authorisations_accumulate_sorted() -> None:
    snapshot = state_of(
        auth(1, "app-2", 1, user("ann", position="dev")),
        auth(2, "app-1", 2, user("ann", name="Ann B")),
    )
    [ann] = snapshot.users
    assert ann["name"] == "Ann B"
    assert "position" not in ann
    assert ann["authorizedApps"] == ["app-1", "app-2"]


def test_auth_revoke_removes_one_authorisation_and_keeps_the_user() -> None:
    snapshot = state_of(
        auth(1, "app-1", 1, user("ann")),
        auth(2, "app-2", 1, user("ann")),
        auth(3, "app-1", 3, user("ann"), user("never-seen")),
    )
    assert codes(snapshot.users, "userName") == ["ann"]
    assert snapshot.users[0]["authorizedApps"] == ["app-2"]


def test_auth_delete_forgets_the_users_and_all_their_authorisations() -> None:
    snapshot = state_of(
        auth(1, "app-1", 1, user("ann"), user("bob")),
        auth(2, "app-2", 1, user("ann")),
        auth(3, "app-1", 0, user("ann")),
    )
    assert codes(snapshot.users, "userName") == ["bob"]
    readded = state_of(
        auth(1, "app-1", 1, user("ann")),
        auth(2, "app-1", 0, user("ann")),
        auth(3, "app-2", 1, user("ann")),
    )
    assert readded.users[0]["authorizedApps"] == ["app-2"]


def test_users_are_sorted_and_flagged_orphan_when_their_department_is_not_live() -> None:
    snapshot = state_of(
        dept(1, "D1"),
        auth(2, "app", 1, user("zed", "D1"), user("amy", "D9"), user("kim", "")),
        dept(3, "D1", flag=0),
    )
    assert [(u["userName"], u["orphan"]) for u in snapshot.users] == [("amy", True), ("kim", False), ("zed", True)]


def test_single_org_sync_adds_modifies_and_deletes_a_department() -> None:
    snapshot = state_of(
        dept(1, "D2"),
        dept(2, "D1"),
        dept(3, "D1", flag=2, name="财务部", parent="D2"),
        dept(4, "D3"),
        dept(5, "D3", flag=0),
    )
    assert snapshot.departments == [
        {"orgCode": "D1", "orgName": "财务部", "parentCode": "D2", "orphan": False, "cycle": False},
        {"orgCode": "D2", "orgName": "部门D2", "parentCode": "", "orphan": False, "cycle": False},
    ]


def test_all_org_sync_makes_the_department_list_exactly_the_listed_one() -> None:
    snapshot = state_of(
        dept(1, "OLD"), dept(2, "D1", name="old name"), all_org(3, ("D1", ""), ("D2", "D1")), dept(4, "D3")
    )
    assert codes(snapshot.departments, "orgCode") == ["D1", "D2", "D3"]
    assert by_code(snapshot)["D1"]["orgName"] == "部门D1"


def test_a_department_whose_parent_is_not_live_is_an_orphan() -> None:
    flags = by_code(state_of(dept(1, "CHILD", parent="P"), dept(2, "GRAND", parent="CHILD")))
    assert flags["CHILD"]["orphan"] is True
    assert flags["GRAND"]["orphan"] is False
    adopted = by_code(state_of(dept(1, "CHILD", parent="P"), dept(2, "P")))
    assert adopted["CHILD"]["orphan"] is False


def test_only_departments_on_a_loop_are_flagged_cycle() -> None:
    flags = by_code(
        state_of(
            dept(1, "SELF", parent="SELF"),
            dept(2, "A", parent="B"),
            dept(3, "B", parent="A"),
            dept(4, "LEAD", parent="A"),
            dept(5, "ROOT"),
        )
    )
    assert {code: item["cycle"] for code, item in flags.items()} == {
        "A": True,
        "B": True,
        "LEAD": False,
        "ROOT": False,
        "SELF": True,
    }
    assert not any(item["orphan"] for item in flags.values())


def test_cycle_detection_handles_long_chains_into_loops_and_dangling_links() -> None:
    parent_of = {"a": "b", "b": "c", "c": "d", "d": "b", "e": "a", "f": "x", "g": "f", "h": "h"}
    assert departments_on_cycles(parent_of) == {"b", "c", "d", "h"}
    chain = {f"n{i}": f"n{i + 1}" for i in range(5000)}
    assert departments_on_cycles(chain) == set()
    assert departments_on_cycles({**chain, "n5000": "n0"}) == set(chain) | {"n5000"}


def test_the_result_does_not_depend_on_the_order_of_the_input() -> None:
    calls = [
        tenant_sync(1, 1),
        all_org(2, ("D1", ""), ("D2", "D1")),
        dept(3, "D3", parent="D2"),
        dept(4, "D2", flag=0),
        auth(5, "app-1", 1, user("ann", "D3"), user("bob", "D2")),
        auth(6, "app-1", 3, user("bob")),
        app(7, "app-1"),
        tenant_sync(8, 2, name="renamed"),
        auth(9, "app-1", 0, user("ann")),
        all_org(10, ("D1", ""), ("D3", "D1")),
    ]
    reference = expected_state(calls)
    rng = random.Random(7)
    for _ in range(50):
        shuffled = calls[:]
        rng.shuffle(shuffled)
        assert expected_state(shuffled) == reference
    assert codes(reference[TENANT].departments, "orgCode") == ["D1", "D3"]


def test_an_older_change_delivered_last_is_overridden_by_the_newer_one() -> None:
    snapshot = state_of(dept(5, "D1", flag=0), dept(1, "D1", name="first"), all_org(3, ("D1", "")))
    assert snapshot.departments == []


def test_duplicates_are_applied_once_whatever_their_key_order_or_case() -> None:
    first = dept(1, "D1", name="研发部")
    resent = parse_call(
        "singleOrgSync",
        {
            "flag": 1,
            "ParentCode": "",
            "orgName": "研发部",
            "orgCode": "D1",
            "timeStamp": ts(1),
            "instanceId": "inst-1",
            "tenantId": TENANT,
        },
    )
    later = dept(2, "D1", flag=0)
    assert applicable_calls([first, later, resent]) == [first, later]
    assert state_of(first, later, resent).departments == []


def test_test_calls_change_nothing() -> None:
    probe = call("tenantSync", 9, flag=0, testFlag=1)
    snapshot = state_of(tenant_sync(1, 1), dept(2, "D1"), probe)
    assert snapshot.tenant is not None
    assert snapshot.tenant["deleted"] is False
    assert codes(snapshot.departments, "orgCode") == ["D1"]
    assert expected_state([call("singleOrgSync", 1, tenant="t-probe", orgCode="D", flag=1, testFlag=1)]) == {}


def test_tenants_are_independent_partitions() -> None:
    result = expected_state([dept(1, "D1"), call("tenantSync", 2, tenant="t-other", flag=0)])
    assert set(result) == {TENANT, "t-other"}
    assert codes(result[TENANT].departments, "orgCode") == ["D1"]
