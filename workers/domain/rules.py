"""The rules of SPEC §5: how each of the five calls changes a tenant's state.

Each `apply_*` function reads and writes only through `TenantState` and reports whether anything
changed (`APPLIED`) or the whole call was older than what it would touch (`STALE`). Writing a record
exactly as it is stored changes nothing: the same call applied again (re-sent after its dedupe row was
pruned, docs/retention.md) finds every record at its own version and is `STALE`.
"""

from __future__ import annotations

from schemas.calls import (
    AllOrgSync,
    AnyCall,
    ApplicationSync,
    AuthSync,
    Flag,
    SingleOrgSync,
    TenantSync,
    UserEntry,
)
from schemas.timestamps import parse_platform_time
from workers.domain.records import (
    ApplicationRecord,
    AuthorizationRecord,
    DepartmentRecord,
    Outcome,
    TenantRecord,
    UserRecord,
    Version,
    at_or_above,
    newest,
)
from workers.domain.tenant_state import TenantState


def apply_call(state: TenantState, call: AnyCall) -> Outcome:
    """Apply one (deduplicated) call to its tenant's state."""
    if call.testFlag == 1:
        return Outcome.TEST
    version = parse_platform_time(call.timeStamp)
    match call:
        case TenantSync():
            changed = apply_tenant_change(state, call, version)
        case ApplicationSync():
            changed = apply_application_change(state, call, version)
        case AuthSync():
            changed = apply_authorization_change(state, call, version)
        case SingleOrgSync():
            changed = apply_department_change(state, call, version)
        case AllOrgSync():
            changed = apply_full_sync(state, call, version)
    return Outcome.APPLIED if changed else Outcome.STALE


def _newer(version: Version, current_version: Version | None, floor: Version | None) -> bool:
    return (current_version is None or version >= current_version) and at_or_above(version, floor)


def apply_tenant_change(state: TenantState, call: TenantSync, version: Version) -> bool:
    """Add/modify writes the record; delete tombstones it and raises the tenant floor.

    The floor is raised even when the record itself is newer (a re-creation that overtook the
    delete): what predates the delete stays gone, the re-created record stays.
    """
    changed = False
    current = state.tenant
    if current is None or version >= current.version:
        record = TenantRecord(
            version=version,
            deleted=Flag(call.flag) is Flag.DELETE,
            tenant_code=call.tenantCode,
            name=call.name,
            domain_name=call.domainName,
            instance_id=call.instanceId,
            order_id=call.orderId,
        )
        if record != current:
            state.put_tenant(record)
            changed = True
    if Flag(call.flag) is Flag.DELETE:
        changed = state.raise_tenant_floor(version) or changed
    return changed


def apply_application_change(state: TenantState, call: ApplicationSync, version: Version) -> bool:
    current = state.applications.get(call.appId)
    if not _newer(version, current.version if current else None, state.floors.tenant):
        return False
    record = ApplicationRecord(
        app_id=call.appId,
        version=version,
        deleted=Flag(call.flag) is Flag.DELETE,
        client_id=call.clientId,
        client_secret=call.clientSecret,
        instance_id=call.instanceId,
    )
    if record == current:
        return False
    state.put_application(record)
    return True


def apply_department_change(state: TenantState, call: SingleOrgSync, version: Version) -> bool:
    current = state.departments.get(call.orgCode)
    floor = newest(state.floors.tenant, state.floors.org)
    if not _newer(version, current.version if current else None, floor):
        return False
    record = DepartmentRecord(
        org_code=call.orgCode,
        version=version,
        deleted=Flag(call.flag) is Flag.DELETE,
        org_name=call.orgName,
        parent_code=call.parentCode,
    )
    if record == current:
        return False
    state.put_department(record)
    return True


def apply_full_sync(state: TenantState, call: AllOrgSync, version: Version) -> bool:
    """Authoritative for everything older than its time: listed departments are written, the rest
    older than it are dropped (by the floor), and newer changes are kept."""
    changed = False
    floor = newest(state.floors.tenant, state.floors.org)
    for org in call.orgInfoList:
        current = state.departments.get(org.orgCode)
        record = DepartmentRecord(org.orgCode, version, False, org.orgName, org.parentCode)
        if _newer(version, current.version if current else None, floor) and record != current:
            state.put_department(record)
            changed = True
    return state.raise_org_floor(version) or changed


def apply_authorization_change(state: TenantState, call: AuthSync, version: Version) -> bool:
    changed = False
    for entry in call.userList:
        match Flag(call.flag):
            case Flag.ADD | Flag.MODIFY:
                changed = _write_user(state, entry, version) | changed
                changed = _write_authorization(state, call.appId, entry.userName, version, True) | changed
            case Flag.REVOKE:
                changed = _write_authorization(state, call.appId, entry.userName, version, False) | changed
            case Flag.DELETE:
                changed = _delete_user(state, entry, version) | changed
    return changed


def _write_user(state: TenantState, entry: UserEntry, version: Version) -> bool:
    current = state.users.get(entry.userName)
    if not _newer(version, current.version if current else None, state.floors.tenant):
        return False
    data = entry.model_dump(mode="json", exclude_none=True)
    record = UserRecord(entry.userName, version, False, data, current.auth_floor if current else None)
    if record == current:
        return False
    state.put_user(record)
    return True


def _write_authorization(state: TenantState, app_id: str, user_name: str, version: Version, authorized: bool) -> bool:
    current = state.authorizations.get((app_id, user_name))
    user = state.users.get(user_name)
    floor = newest(state.floors.tenant, user.auth_floor if user else None)
    if not _newer(version, current.version if current else None, floor):
        return False
    record = AuthorizationRecord(app_id, user_name, version, authorized)
    if record == current:
        return False
    state.put_authorization(record)
    return True


def _delete_user(state: TenantState, entry: UserEntry, version: Version) -> bool:
    """Tombstone the user (unless re-created later) and drop their authorisations older than now."""
    if not at_or_above(version, state.floors.tenant):
        return False
    current = state.users.get(entry.userName)
    if current is not None and current.auth_floor is not None and current.auth_floor >= version:
        return False
    if current is None or version >= current.version:
        record = UserRecord(entry.userName, version, True, entry.model_dump(mode="json", exclude_none=True), version)
    else:
        record = UserRecord(current.user_name, current.version, current.deleted, current.data, version)
    state.put_user(record)
    state.drop_user_authorizations(entry.userName, version)
    return True
