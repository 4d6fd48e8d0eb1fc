"""The converged state as the read API serves it (SPEC §7): live records only, with the
inconsistencies the platform sent reported as flags — orphans and cycles — never refused."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from workers.domain.records import ApplicationRecord, AuthorizationRecord, DepartmentRecord, TenantRecord, UserRecord


def render_tenant(tenant_id: str, record: TenantRecord) -> dict[str, Any]:
    return {
        "tenantId": tenant_id,
        "tenantCode": record.tenant_code,
        "name": record.name,
        "domainName": record.domain_name,
        "instanceId": record.instance_id,
        "orderId": record.order_id,
        "deleted": record.deleted,
    }


def cycle_members(parents: Mapping[str, str]) -> set[str]:
    """Codes that lie on a loop of parent links (a department leading into a loop is not on it)."""
    on_cycle: set[str] = set()
    settled: set[str] = set()
    for start in parents:
        path: dict[str, int] = {}
        node = start
        while node in parents and node not in settled and node not in path:
            path[node] = len(path)
            node = parents[node]
        if node in path:
            loop_start = path[node]
            on_cycle.update(code for code, position in path.items() if position >= loop_start)
        settled.update(path)
    return on_cycle


def render_departments(records: Iterable[DepartmentRecord]) -> list[dict[str, Any]]:
    live = sorted((record for record in records if not record.deleted), key=lambda record: record.org_code)
    parents = {record.org_code: record.parent_code for record in live if record.parent_code}
    looped = cycle_members(parents)
    codes = {record.org_code for record in live}
    return [
        {
            "orgCode": record.org_code,
            "orgName": record.org_name,
            "parentCode": record.parent_code,
            "orphan": bool(record.parent_code) and record.parent_code not in codes,
            "cycle": record.org_code in looped,
        }
        for record in live
    ]


def department_tree(departments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nest `children` under parents. Roots: top-level departments, orphans, and for each loop the
    member with the smallest code (so every live department appears exactly once)."""
    nodes = {department["orgCode"]: {**department, "children": []} for department in departments}
    attached: set[str] = set()
    for code, node in nodes.items():
        parent = node["parentCode"]
        if parent and parent in nodes and parent != code and not _closes_loop(code, nodes):
            nodes[parent]["children"].append(node)
            attached.add(code)
    return [node for code, node in nodes.items() if code not in attached]


def _closes_loop(code: str, nodes: Mapping[str, dict[str, Any]]) -> bool:
    """True for the one edge per loop that is cut: the edge out of the loop's smallest code."""
    if not nodes[code]["cycle"]:
        return False
    loop = [code]
    node = nodes[code]["parentCode"]
    while node != code and node in nodes and len(loop) <= len(nodes):
        loop.append(node)
        node = nodes[node]["parentCode"]
    return code == min(loop)


def render_users(
    users: Iterable[UserRecord], authorizations: Iterable[AuthorizationRecord], department_codes: set[str]
) -> list[dict[str, Any]]:
    apps: dict[str, list[str]] = {}
    for auth in authorizations:
        if auth.authorized:
            apps.setdefault(auth.user_name, []).append(auth.app_id)
    rendered = []
    for user in sorted((user for user in users if not user.deleted), key=lambda user: user.user_name):
        org_code = user.data.get("orgCode", "")
        rendered.append(
            {
                **user.data,
                "authorizedApps": sorted(apps.get(user.user_name, [])),
                "orphan": bool(org_code) and org_code not in department_codes,
            }
        )
    return rendered


def render_applications(records: Iterable[ApplicationRecord]) -> list[dict[str, Any]]:
    """Never the client secret."""
    live = sorted((record for record in records if not record.deleted), key=lambda record: record.app_id)
    return [{"appId": record.app_id, "clientId": record.client_id, "instanceId": record.instance_id} for record in live]
