"""The reference model of SPEC §5: the state every tenant must converge to.

It is deliberately naive, so that it can be trusted by reading it: drop duplicate calls (same
event id) and test calls (`testFlag == 1`), sort the rest by `timeStamp` (a stable sort: calls with
equal timestamps stay in input order, which SPEC §5 leaves open), and apply them one by one to a
plain in-memory state per tenant. No versions, tombstones or floors are needed: applied in
timestamp order, a delete simply removes what came before it.

- `tenantSync` 1/2 writes the tenant record; 0 writes it as deleted and wipes the tenant's
  departments, users, applications and authorisations.
- `applicationSync` 1/2 binds `{appId, clientId, instanceId}`; 0 unbinds it.
- `authSync` 1/2 stores each user entry as sent and authorises it for `appId`; 0 forgets the users
  and every authorisation they had; 3 revokes `appId` only (a user never seen is not created).
- `singleOrgSync` 1/2 writes one department; 0 removes it.
- `allOrgSync` makes the department list exactly the one listed.

Departments, users and applications change whether or not the tenant record exists or is deleted
at that moment: the tenant id is only the partition. `snapshot.py` states how the result is served.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.calls import AllOrgSync, AnyCall, ApplicationSync, AuthSync, Flag, SingleOrgSync, TenantSync
from schemas.event_id import event_id
from syncpipe.simulation.snapshot import (
    Json,
    TenantSnapshot,
    render_applications,
    render_departments,
    render_users,
)


@dataclass
class TenantState:
    """One tenant's state between calls; `authorisations` holds (appId, userName) pairs."""

    tenant: Json | None = None
    departments: dict[str, Json] = field(default_factory=dict)
    users: dict[str, Json] = field(default_factory=dict)
    applications: dict[str, Json] = field(default_factory=dict)
    authorisations: set[tuple[str, str]] = field(default_factory=set)

    def snapshot(self) -> TenantSnapshot:
        apps_of: dict[str, list[str]] = {}
        for app_id, user_name in self.authorisations:
            apps_of.setdefault(user_name, []).append(app_id)
        return TenantSnapshot(
            tenant=self.tenant,
            departments=render_departments(self.departments),
            users=render_users(self.users, apps_of, self.departments.keys()),
            applications=render_applications(self.applications),
        )


def expected_state(calls: Iterable[AnyCall]) -> dict[str, TenantSnapshot]:
    """The converged snapshot of every tenant named by a distinct production call, keyed by tenantId.

    A tenant that only test calls named is absent: the read API knows nothing of it.
    """
    states: dict[str, TenantState] = {}
    for call in applicable_calls(calls):
        apply_call(states.setdefault(call.tenantId, TenantState()), call)
    return {tenant_id: state.snapshot() for tenant_id, state in states.items()}


def applicable_calls(calls: Iterable[AnyCall]) -> list[AnyCall]:
    """Distinct (by event id) production calls in timestamp order, ties in input order."""
    distinct: dict[str, AnyCall] = {}
    for call in calls:
        if call.testFlag == 0:
            distinct.setdefault(event_id(call), call)
    # 17-digit timestamps (validated by the schema) sort as strings in time order.
    return sorted(distinct.values(), key=lambda call: call.timeStamp)


def apply_call(state: TenantState, call: AnyCall) -> None:
    match call:
        case TenantSync():
            _apply_tenant(state, call)
        case ApplicationSync():
            _apply_application(state, call)
        case AuthSync():
            _apply_auth(state, call)
        case SingleOrgSync():
            _apply_department(state, call)
        case AllOrgSync():
            state.departments = {
                org.orgCode: {"orgCode": org.orgCode, "orgName": org.orgName, "parentCode": org.parentCode}
                for org in call.orgInfoList
            }


def _apply_tenant(state: TenantState, call: TenantSync) -> None:
    state.tenant = {
        "tenantId": call.tenantId,
        "tenantCode": call.tenantCode,
        "name": call.name,
        "domainName": call.domainName,
        "instanceId": call.instanceId,
        "orderId": call.orderId,
        "deleted": Flag(call.flag) is Flag.DELETE,
    }
    if Flag(call.flag) is Flag.DELETE:
        state.departments.clear()
        state.users.clear()
        state.applications.clear()
        state.authorisations.clear()


def _apply_application(state: TenantState, call: ApplicationSync) -> None:
    if Flag(call.flag) is Flag.DELETE:
        state.applications.pop(call.appId, None)
    else:
        state.applications[call.appId] = {
            "appId": call.appId,
            "clientId": call.clientId,
            "instanceId": call.instanceId,
        }


def _apply_auth(state: TenantState, call: AuthSync) -> None:
    names = {entry.userName for entry in call.userList}
    if Flag(call.flag) is Flag.DELETE:
        for name in names:
            state.users.pop(name, None)
        state.authorisations = {pair for pair in state.authorisations if pair[1] not in names}
    elif Flag(call.flag) is Flag.REVOKE:
        state.authorisations -= {(call.appId, name) for name in names}
    else:
        for entry in call.userList:
            state.users[entry.userName] = entry.model_dump(mode="json", exclude_none=True)
            state.authorisations.add((call.appId, entry.userName))


def _apply_department(state: TenantState, call: SingleOrgSync) -> None:
    if Flag(call.flag) is Flag.DELETE:
        state.departments.pop(call.orgCode, None)
    else:
        state.departments[call.orgCode] = {
            "orgCode": call.orgCode,
            "orgName": call.orgName,
            "parentCode": call.parentCode,
        }
