"""GET /v1/tenants/{tenantId}/departments: live departments, inconsistencies flagged, flat or as a tree."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.read_api.conftest import ReadApi
from tests.read_api.seed import insert_department

# code -> parent: a clean chain, an orphan, a 2-node loop, a self-parent, a department leading into
# the loop, and a child of a tombstone.
LIVE = {
    "A": "",
    "B": "A",
    "C": "B",
    "O": "missing",
    "X": "Y",
    "Y": "X",
    "S": "S",
    "L": "X",
    "Q": "Z",
}
TOMBSTONED = {"Z": ""}


@pytest.fixture
async def seeded(db: asyncpg.Connection, tenant_id: str) -> None:
    for code, parent in LIVE.items():
        await insert_department(db, tenant_id, code, parent)
    for code, parent in TOMBSTONED.items():
        await insert_department(db, tenant_id, code, parent, deleted=True)
    await insert_department(db, f"{tenant_id}-other", "elsewhere")


def flags(departments: list[dict[str, Any]]) -> dict[str, tuple[bool, bool]]:
    return {department["orgCode"]: (department["orphan"], department["cycle"]) for department in departments}


@pytest.mark.usefixtures("seeded")
async def test_departments_are_flagged(api: ReadApi, tenant_id: str) -> None:
    status, body = await api.get(f"/v1/tenants/{tenant_id}/departments")
    assert status == 200
    assert flags(body["departments"]) == {
        "A": (False, False),
        "B": (False, False),
        "C": (False, False),
        "O": (True, False),
        "Q": (True, False),  # its parent is a tombstone
        "S": (False, True),
        "X": (False, True),
        "Y": (False, True),
        "L": (False, False),  # leads into the loop but is not on it
    }
    assert [department["orgCode"] for department in body["departments"]] == sorted(LIVE)
    assert body["departments"][0] == {
        "orgCode": "A",
        "orgName": "部门 A",
        "parentCode": "",
        "orphan": False,
        "cycle": False,
    }


@pytest.mark.usefixtures("seeded")
async def test_flat_is_the_default_format(api: ReadApi, tenant_id: str) -> None:
    _, default = await api.get(f"/v1/tenants/{tenant_id}/departments")
    _, flat = await api.get(f"/v1/tenants/{tenant_id}/departments", format="flat")
    assert default == flat


def shape(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {node["orgCode"]: shape(node["children"]) for node in nodes}


def codes_in(nodes: list[dict[str, Any]]) -> list[str]:
    return [code for node in nodes for code in [node["orgCode"], *codes_in(node["children"])]]


@pytest.mark.usefixtures("seeded")
async def test_the_tree_nests_children(api: ReadApi, tenant_id: str) -> None:
    status, body = await api.get(f"/v1/tenants/{tenant_id}/departments", format="tree")
    assert status == 200
    tree = body["departments"]
    assert shape(tree) == {
        "A": {"B": {"C": {}}},
        "O": {},
        "Q": {},
        "S": {},
        "X": {"L": {}, "Y": {}},  # the loop is cut at its smallest code
    }
    assert sorted(codes_in(tree)) == sorted(LIVE)  # every live department exactly once
    assert tree[0]["children"][0]["orphan"] is False
    assert tree[-1]["cycle"] is True


async def test_an_unknown_format_is_a_bad_request(api: ReadApi, tenant_id: str) -> None:
    status, body = await api.get(f"/v1/tenants/{tenant_id}/departments", format="graph")
    assert status == 400
    assert "format" in body["error"]
