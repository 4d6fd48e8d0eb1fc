"""The versioned records a tenant's state is made of."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

Version = datetime


class Outcome(StrEnum):
    """What applying one event did (its final status, together with the statuses the applier adds)."""

    APPLIED = "applied"
    STALE = "stale"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class TenantRecord:
    version: Version
    deleted: bool
    tenant_code: str
    name: str
    domain_name: str
    instance_id: str
    order_id: str


@dataclass(frozen=True, slots=True)
class Floors:
    """Everything of the tenant older than `tenant` is gone; departments older than `org` too."""

    tenant: Version | None = None
    org: Version | None = None


@dataclass(frozen=True, slots=True)
class DepartmentRecord:
    org_code: str
    version: Version
    deleted: bool
    org_name: str = ""
    parent_code: str = ""


@dataclass(frozen=True, slots=True)
class UserRecord:
    """`data` is the user entry as sent (normalised). `auth_floor`: authorisations older are gone."""

    user_name: str
    version: Version
    deleted: bool
    data: dict[str, Any] = field(default_factory=dict)
    auth_floor: Version | None = None


@dataclass(frozen=True, slots=True)
class AuthorizationRecord:
    app_id: str
    user_name: str
    version: Version
    authorized: bool


@dataclass(frozen=True, slots=True)
class ApplicationRecord:
    app_id: str
    version: Version
    deleted: bool
    client_id: str = ""
    client_secret: str = ""
    instance_id: str = ""


def newest(*versions: Version | None) -> Version | None:
    present = [version for version in versions if version is not None]
    return max(present) if present else None


def at_or_above(version: Version, floor: Version | None) -> bool:
    """Changes at exactly a floor survive it (ties may resolve either way by contract)."""
    return floor is None or version >= floor
