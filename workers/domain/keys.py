"""Which stored records applying a call can read: what the applier loads before the rules run."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.calls import AllOrgSync, AnyCall, ApplicationSync, AuthSync, SingleOrgSync, TenantSync


@dataclass
class StateKeys:
    """Keys of one tenant's records to load (the tenant record and floors are always loaded)."""

    all_departments: bool = False
    departments: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    applications: set[str] = field(default_factory=set)
    authorizations: set[tuple[str, str]] = field(default_factory=set)

    def add(self, call: AnyCall) -> None:
        match call:
            case TenantSync():
                pass
            case ApplicationSync():
                self.applications.add(call.appId)
            case SingleOrgSync():
                self.departments.add(call.orgCode)
            case AllOrgSync():
                self.all_departments = True
            case AuthSync():
                for entry in call.userList:
                    self.users.add(entry.userName)
                    self.authorizations.add((call.appId, entry.userName))
