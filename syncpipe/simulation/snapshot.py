"""What the read API answers for one tenant (SPEC §7), as plain JSON data.

This module is the contract the read API and the workers' view code are tested against:

- `GET /v1/tenants/{id}` answers `{"tenantId", "tenantCode", "name", "domainName", "instanceId",
  "orderId", "deleted": bool}`, or 404 when no tenantSync ever wrote the tenant record (its
  departments, users and applications may exist all the same).
- `GET /v1/tenants/{id}/departments` answers `{"departments": [...]}`, a list sorted by `orgCode` of
  `{"orgCode", "orgName", "parentCode", "orphan": bool, "cycle": bool}`:
  `orphan` = `parentCode` is not empty and names no live department of the tenant;
  `cycle` = the department lies ON a loop of parent links (a self-parent counts; a department whose
  chain merely leads into a loop is not itself `cycle`).
- `GET /v1/tenants/{id}/users` answers `{"users": [...]}`, a list sorted by `userName` of the user entry as last
  sent (`UserEntry.model_dump(mode="json", exclude_none=True)`: unknown fields kept, `enable` a
  bool), plus `"authorizedApps"`: the sorted appIds the user is authorised for (whether or not
  that application is currently bound), and `"orphan": bool` (`orgCode` not empty and naming no live
  department).
- `GET /v1/tenants/{id}/applications` answers `{"applications": [...]}`, a list sorted by `appId` of
  `{"appId", "clientId", "instanceId"}`; the client secret is never served.

Each list comes whole, in one answer. A tenant never written answers 404 on its record; its lists
may answer 404 too (read as empty) or hold what was sent for it all the same.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True)
class TenantSnapshot:
    """One tenant as the read API serves it; `tenant` is None when the record was never written."""

    tenant: Json | None = None
    departments: list[Json] = field(default_factory=list)
    users: list[Json] = field(default_factory=list)
    applications: list[Json] = field(default_factory=list)

    def to_json(self) -> Json:
        return asdict(self)


def render_departments(departments: Mapping[str, Json]) -> list[Json]:
    """`departments` maps orgCode to `{"orgCode", "orgName", "parentCode"}`."""
    on_loop = departments_on_cycles({code: dept["parentCode"] for code, dept in departments.items()})
    return [
        {
            **departments[code],
            "orphan": _is_orphan(departments[code]["parentCode"], departments),
            "cycle": code in on_loop,
        }
        for code in sorted(departments)
    ]


def render_users(
    users: Mapping[str, Json], authorised_apps: Mapping[str, Collection[str]], live_departments: Collection[str]
) -> list[Json]:
    """`users` maps userName to the stored entry; `authorised_apps` maps userName to appIds."""
    return [
        {
            **users[name],
            "authorizedApps": sorted(authorised_apps.get(name, ())),
            "orphan": _is_orphan(users[name].get("orgCode", ""), live_departments),
        }
        for name in sorted(users)
    ]


def render_applications(applications: Mapping[str, Json]) -> list[Json]:
    return [dict(applications[app_id]) for app_id in sorted(applications)]


def departments_on_cycles(parent_of: Mapping[str, str]) -> set[str]:
    """The codes that lie on a loop of parent links (links to unknown codes lead nowhere).

    Each chain is walked once: a walk stops at a node already settled by an earlier walk, and a
    node met twice within the same walk closes a loop made of the nodes from its first visit on.
    """
    on_loop: set[str] = set()
    settled: set[str] = set()
    for start in parent_of:
        path: list[str] = []
        position: dict[str, int] = {}
        node: str | None = start
        while node is not None and node in parent_of and node not in settled:
            if node in position:
                on_loop.update(path[position[node] :])
                break
            position[node] = len(path)
            path.append(node)
            node = parent_of[node]
        settled.update(path)
    return on_loop


def _is_orphan(parent_code: str, live_departments: Collection[str]) -> bool:
    return parent_code != "" and parent_code not in live_departments
