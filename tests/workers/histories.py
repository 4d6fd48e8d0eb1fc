"""Hypothesis strategies for one tenant's call history: small id pools so calls collide often."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from schemas.calls import AnyCall, parse_call
from schemas.timestamps import format_platform_time

ORG_CODES = ["A", "B", "C", "D", "E"]
USERS = ["u1", "u2", "u3"]
APPS = ["app1", "app2"]
_START = datetime(2026, 1, 1, tzinfo=UTC)

parents = st.sampled_from(["", *ORG_CODES])


ALL_INTERFACES = ("tenantSync", "applicationSync", "authSync", "singleOrgSync", "allOrgSync")
# Narrower mixes make the interactions between floors and entities collide far more often.
MIXES = {
    "all": ALL_INTERFACES,
    "org": ("tenantSync", "singleOrgSync", "allOrgSync"),
    "users": ("tenantSync", "authSync", "authSync", "singleOrgSync"),
}


@st.composite
def call_bodies(
    draw: st.DrawFn, tenant_id: str, interfaces: tuple[str, ...] = ALL_INTERFACES
) -> tuple[str, dict[str, Any]]:
    """One call without its timeStamp (assigned later, unique and increasing)."""
    interface = draw(st.sampled_from(interfaces))
    body: dict[str, Any] = {"tenantId": tenant_id, "instanceId": "i1", "testFlag": draw(st.sampled_from([0] * 9 + [1]))}
    if interface == "tenantSync":
        body |= {"flag": draw(st.sampled_from([0, 1, 1, 2])), "name": draw(st.sampled_from(["Acme", "Acme 2"]))}
        body |= {"tenantCode": "c1", "domainName": "https://acme.example.com", "orderId": "o1"}
    elif interface == "applicationSync":
        body |= {"flag": draw(st.sampled_from([0, 1, 2])), "appId": draw(st.sampled_from(APPS))}
        body |= {"clientId": draw(st.sampled_from(["cid1", "cid2"])), "clientSecret": "c2VjcmV0"}
    elif interface == "authSync":
        users = draw(st.lists(st.sampled_from(USERS), min_size=1, max_size=2, unique=True))
        body |= {"flag": draw(st.sampled_from([0, 1, 2, 3])), "appId": draw(st.sampled_from(APPS))}
        body["userList"] = [
            {
                "userName": user,
                "name": draw(st.sampled_from(["张三", "Li Si"])),
                "orgCode": draw(st.sampled_from(["", *ORG_CODES, "ZZ"])),
                "role": draw(st.sampled_from(["user", "admin"])),
                "enable": draw(st.sampled_from(["true", "false"])),
            }
            for user in users
        ]
    elif interface == "singleOrgSync":
        code = draw(st.sampled_from(ORG_CODES))
        body |= {"flag": draw(st.sampled_from([0, 1, 2])), "orgCode": code, "parentCode": draw(parents)}
        body["orgName"] = draw(st.sampled_from(["研发部", "Sales"]))
    else:
        codes = draw(st.lists(st.sampled_from(ORG_CODES), max_size=5, unique=True))
        body["orgInfoList"] = [
            {"orgCode": code, "orgName": draw(st.sampled_from(["财务部", "Ops"])), "parentCode": draw(parents)}
            for code in codes
        ]
    return interface, body


@st.composite
def histories(
    draw: st.DrawFn, tenant_id: str, max_calls: int = 25, interfaces: tuple[str, ...] = ALL_INTERFACES
) -> list[AnyCall]:
    """Distinct calls of one tenant with unique, increasing timestamps (no ties by construction)."""
    bodies = draw(st.lists(call_bodies(tenant_id, interfaces), min_size=max_calls // 3, max_size=max_calls))
    moment = _START
    calls = []
    for interface, body in bodies:
        moment += timedelta(milliseconds=draw(st.integers(min_value=1, max_value=5000)))
        calls.append(parse_call(interface, {**body, "timeStamp": format_platform_time(moment)}))
    return calls


@st.composite
def deliveries(draw: st.DrawFn, calls: list[AnyCall]) -> list[AnyCall]:
    """Every call at least once, some several times, in any order."""
    extra = draw(st.lists(st.sampled_from(calls), max_size=len(calls)))
    return draw(st.permutations([*calls, *extra]))
