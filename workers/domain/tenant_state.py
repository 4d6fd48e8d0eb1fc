"""One tenant's state as a unit of work: the records a batch of events needs, and what it changed.

The applier loads the records named by `keys_needed` for every event of a batch, the rules read
and write them here, and `changes()` lists what must be written back: records to upsert (each
guarded by its version in storage, too) and purges (rows below a raised floor) to run first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from workers.domain.records import (
    ApplicationRecord,
    AuthorizationRecord,
    DepartmentRecord,
    Floors,
    TenantRecord,
    UserRecord,
    Version,
)

K = TypeVar("K")
R = TypeVar("R")
Versioned = TypeVar("Versioned", DepartmentRecord, UserRecord, AuthorizationRecord, ApplicationRecord)


class PurgeScope(StrEnum):
    TENANT = "tenant"  # departments, users, authorisations and applications
    DEPARTMENTS = "departments"
    USER_AUTHORIZATIONS = "user_authorizations"


@dataclass(frozen=True, slots=True)
class Purge:
    """Delete the stored rows of `scope` whose version is older than `older_than`."""

    scope: PurgeScope
    older_than: Version
    user_name: str = ""


@dataclass(frozen=True, slots=True)
class StateChanges:
    tenant: TenantRecord | None
    floors: Floors | None
    purges: list[Purge]
    departments: list[DepartmentRecord]
    users: list[UserRecord]
    authorizations: list[AuthorizationRecord]
    applications: list[ApplicationRecord]

    @property
    def empty(self) -> bool:
        return not (self.tenant or self.floors or self.purges or self.departments) and not (
            self.users or self.authorizations or self.applications
        )


@dataclass
class TenantState:
    tenant_id: str
    tenant: TenantRecord | None = None
    floors: Floors = field(default_factory=Floors)
    departments: dict[str, DepartmentRecord] = field(default_factory=dict)
    users: dict[str, UserRecord] = field(default_factory=dict)
    authorizations: dict[tuple[str, str], AuthorizationRecord] = field(default_factory=dict)
    applications: dict[str, ApplicationRecord] = field(default_factory=dict)
    _dirty_tenant: bool = False
    _dirty_floors: bool = False
    _dirty_departments: set[str] = field(default_factory=set)
    _dirty_users: set[str] = field(default_factory=set)
    _dirty_authorizations: set[tuple[str, str]] = field(default_factory=set)
    _dirty_applications: set[str] = field(default_factory=set)
    _purges: list[Purge] = field(default_factory=list)

    # -- writes ---------------------------------------------------------------------------
    def put_tenant(self, record: TenantRecord) -> None:
        self.tenant = record
        self._dirty_tenant = True

    def put_department(self, record: DepartmentRecord) -> None:
        self.departments[record.org_code] = record
        self._dirty_departments.add(record.org_code)

    def put_user(self, record: UserRecord) -> None:
        self.users[record.user_name] = record
        self._dirty_users.add(record.user_name)

    def put_authorization(self, record: AuthorizationRecord) -> None:
        key = (record.app_id, record.user_name)
        self.authorizations[key] = record
        self._dirty_authorizations.add(key)

    def put_application(self, record: ApplicationRecord) -> None:
        self.applications[record.app_id] = record
        self._dirty_applications.add(record.app_id)

    def raise_tenant_floor(self, floor: Version) -> bool:
        """Everything of the tenant older than `floor` is gone for good. False if already so."""
        if self.floors.tenant is not None and self.floors.tenant >= floor:
            return False
        self.floors = Floors(tenant=floor, org=self.floors.org)
        self._dirty_floors = True
        self._purges.append(Purge(PurgeScope.TENANT, floor))
        self._drop_older(self.departments, self._dirty_departments, floor)
        self._drop_older(self.users, self._dirty_users, floor)
        self._drop_older(self.authorizations, self._dirty_authorizations, floor)
        self._drop_older(self.applications, self._dirty_applications, floor)
        return True

    def raise_org_floor(self, floor: Version) -> bool:
        """Departments older than `floor` are gone for good (a full snapshot at `floor`)."""
        if self.floors.org is not None and self.floors.org >= floor:
            return False
        self.floors = Floors(tenant=self.floors.tenant, org=floor)
        self._dirty_floors = True
        self._purges.append(Purge(PurgeScope.DEPARTMENTS, floor))
        self._drop_older(self.departments, self._dirty_departments, floor)
        return True

    def drop_user_authorizations(self, user_name: str, older_than: Version) -> None:
        self._purges.append(Purge(PurgeScope.USER_AUTHORIZATIONS, older_than, user_name))
        for key in [key for key, auth in self.authorizations.items() if key[1] == user_name]:
            if self.authorizations[key].version < older_than:
                del self.authorizations[key]
                self._dirty_authorizations.discard(key)

    @staticmethod
    def _drop_older(records: dict[K, Versioned], dirty: set[K], floor: Version) -> None:
        for key in [key for key, record in records.items() if record.version < floor]:
            del records[key]
            dirty.discard(key)

    # -- what to write back ---------------------------------------------------------------
    def changes(self) -> StateChanges:
        return StateChanges(
            tenant=self.tenant if self._dirty_tenant else None,
            floors=self.floors if self._dirty_floors else None,
            purges=list(self._purges),
            departments=_pick(self.departments, self._dirty_departments),
            users=_pick(self.users, self._dirty_users),
            authorizations=_pick(self.authorizations, self._dirty_authorizations),
            applications=_pick(self.applications, self._dirty_applications),
        )

    def everything(self) -> StateChanges:
        """Every record and floor as changes to write: what a rebuild saves over an emptied tenant."""
        floors = self.floors if (self.floors.tenant or self.floors.org) else None
        return StateChanges(
            tenant=self.tenant,
            floors=floors,
            purges=[],
            departments=list(self.departments.values()),
            users=list(self.users.values()),
            authorizations=list(self.authorizations.values()),
            applications=list(self.applications.values()),
        )


def _pick(records: dict[K, R], keys: Iterable[K]) -> list[R]:
    return [records[key] for key in keys if key in records]
