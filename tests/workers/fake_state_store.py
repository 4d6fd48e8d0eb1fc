"""An in-memory stand-in for the Postgres state store with the same load and save semantics
(purges first, then version-guarded upserts), so the rules can be run batch by batch as the
applier runs them, without a database."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from syncpipe.simulation.snapshot import TenantSnapshot
from workers.domain.keys import StateKeys
from workers.domain.records import (
    ApplicationRecord,
    AuthorizationRecord,
    DepartmentRecord,
    Floors,
    TenantRecord,
    UserRecord,
    newest,
)
from workers.domain.tenant_state import PurgeScope, StateChanges, TenantState
from workers.domain.views import render_applications, render_departments, render_tenant, render_users


@dataclass
class FakeStateStore:
    tenant: TenantRecord | None = None
    floors: Floors = field(default_factory=Floors)
    departments: dict[str, DepartmentRecord] = field(default_factory=dict)
    users: dict[str, UserRecord] = field(default_factory=dict)
    authorizations: dict[tuple[str, str], AuthorizationRecord] = field(default_factory=dict)
    applications: dict[str, ApplicationRecord] = field(default_factory=dict)

    def load(self, tenant_id: str, keys: StateKeys) -> TenantState:
        """Only what `keys` names, as the Postgres store loads it."""
        codes = set(self.departments) if keys.all_departments else keys.departments
        return TenantState(
            tenant_id,
            tenant=self.tenant,
            floors=self.floors,
            departments={code: self.departments[code] for code in codes if code in self.departments},
            users={name: self.users[name] for name in keys.users if name in self.users},
            authorizations={key: self.authorizations[key] for key in keys.authorizations if key in self.authorizations},
            applications={app: self.applications[app] for app in keys.applications if app in self.applications},
        )

    def save(self, changes: StateChanges) -> None:
        for purge in changes.purges:
            floor = purge.older_than
            if purge.scope is PurgeScope.TENANT:
                for table in (self.departments, self.users, self.authorizations, self.applications):
                    for key in [key for key, record in table.items() if record.version < floor]:
                        del table[key]
            elif purge.scope is PurgeScope.DEPARTMENTS:
                self.departments = {k: r for k, r in self.departments.items() if r.version >= floor}
            else:
                self.authorizations = {
                    k: r for k, r in self.authorizations.items() if k[1] != purge.user_name or r.version >= floor
                }
        if changes.floors:
            self.floors = Floors(
                newest(self.floors.tenant, changes.floors.tenant), newest(self.floors.org, changes.floors.org)
            )
        if changes.tenant and (self.tenant is None or self.tenant.version <= changes.tenant.version):
            self.tenant = changes.tenant
        for d in changes.departments:
            if (old := self.departments.get(d.org_code)) is None or old.version <= d.version:
                self.departments[d.org_code] = d
        for u in changes.users:
            old_user = self.users.get(u.user_name)
            if old_user is None or old_user.version <= u.version:
                self.users[u.user_name] = replace(u, auth_floor=newest(u.auth_floor, old_user and old_user.auth_floor))
            else:
                self.users[u.user_name] = replace(old_user, auth_floor=newest(u.auth_floor, old_user.auth_floor))
        for a in changes.authorizations:
            key = (a.app_id, a.user_name)
            if (old_auth := self.authorizations.get(key)) is None or old_auth.version <= a.version:
                self.authorizations[key] = a
        for app in changes.applications:
            if (old_app := self.applications.get(app.app_id)) is None or old_app.version <= app.version:
                self.applications[app.app_id] = app

    def snapshot(self, tenant_id: str) -> TenantSnapshot:
        departments = render_departments(self.departments.values())
        return TenantSnapshot(
            tenant=render_tenant(tenant_id, self.tenant) if self.tenant else None,
            departments=departments,
            users=render_users(self.users.values(), self.authorizations.values(), {d["orgCode"] for d in departments}),
            applications=render_applications(self.applications.values()),
        )
