"""One tenant's stored state, row for row, and what changed between two readings of it.

Rows are compared whole (versions, tombstones and floors included), so a rebuild that reproduces
the state exactly reports no change at all. Values are never printed, only counts and the tenant
record's own fields: an application row holds a client secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg

Row = tuple[Any, ...]

# Per derived table: its key columns after tenant_id, then the columns compared. `data::text`: jsonb
# renders canonically, so equal documents compare equal whatever the codec.
_TABLES: dict[str, tuple[tuple[str, ...], str]] = {
    "departments": (("org_code",), "version, deleted, org_name, parent_code"),
    "users": (("user_name",), "version, deleted, data::text, auth_floor"),
    "authorizations": (("user_name", "app_id"), "version, authorized"),
    "applications": (("app_id",), "version, deleted, client_id, client_secret, instance_id"),
}
# The tenant record's fields an operator recognises; floors included, they decide what is hidden.
_TENANT_FIELDS = ("version", "deleted", "tenant_code", "name", "domain_name", "instance_id", "order_id")
_TENANT_COLUMNS = (*_TENANT_FIELDS, "tenant_floor", "org_floor")
DERIVED_TABLES = ("tenants", *_TABLES)


@dataclass(frozen=True)
class TenantRows:
    tenant: dict[str, Any] | None  # the `tenants` row, None if there is none
    kinds: dict[str, dict[tuple[Any, ...], Row]]  # table -> key -> compared columns

    @property
    def counts(self) -> dict[str, int]:
        return {kind: len(rows) for kind, rows in self.kinds.items()}


async def read_tenant_rows(connection: asyncpg.Connection, tenant_id: str) -> TenantRows:
    row = await connection.fetchrow(f"SELECT {', '.join(_TENANT_COLUMNS)} FROM tenants WHERE tenant_id = $1", tenant_id)
    kinds: dict[str, dict[tuple[Any, ...], Row]] = {}
    for table, (keys, columns) in _TABLES.items():
        query = f"SELECT {', '.join(keys)}, {columns} FROM {table} WHERE tenant_id = $1"
        rows = await connection.fetch(query, tenant_id)
        kinds[table] = {tuple(r[: len(keys)]): tuple(r[len(keys) :]) for r in rows}
    return TenantRows(dict(row) if row else None, kinds)


class KindDiff(NamedTuple):
    added: int
    removed: int
    changed: int
    unchanged: int


@dataclass(frozen=True)
class StateDiff:
    tenant_before: dict[str, Any] | None
    tenant_after: dict[str, Any] | None
    kinds: dict[str, KindDiff]

    @property
    def tenant_change(self) -> str:
        if self.tenant_before == self.tenant_after:
            return "unchanged"
        if self.tenant_before is None:
            return "added"
        return "removed" if self.tenant_after is None else "changed"

    @property
    def unchanged(self) -> bool:
        moved = any(diff.added or diff.removed or diff.changed for diff in self.kinds.values())
        return self.tenant_change == "unchanged" and not moved

    def to_json(self) -> dict[str, Any]:
        return {
            "unchanged": self.unchanged,
            "tenant": {
                "change": self.tenant_change,
                "before": _printable(self.tenant_before),
                "after": _printable(self.tenant_after),
            },
            "kinds": {kind: diff._asdict() for kind, diff in self.kinds.items()},
        }


def diff_rows(before: TenantRows, after: TenantRows) -> StateDiff:
    kinds = {}
    for kind in _TABLES:
        old, new = before.kinds[kind], after.kinds[kind]
        both = old.keys() & new.keys()
        changed = sum(1 for key in both if old[key] != new[key])
        kinds[kind] = KindDiff(len(new.keys() - old.keys()), len(old.keys() - new.keys()), changed, len(both) - changed)
    return StateDiff(before.tenant, after.tenant, kinds)


def _printable(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {name: value.isoformat() if hasattr(value, "isoformat") else value for name, value in row.items()}
