"""The differences a mismatch report shows, and the report's own rendering."""

from __future__ import annotations

import json

from syncpipe.simulation.comparison import snapshot_differences
from syncpipe.simulation.report import SimulationReport, TenantMismatch
from syncpipe.simulation.snapshot import TenantSnapshot

TENANT = {
    "tenantId": "t",
    "tenantCode": "c",
    "name": "n",
    "domainName": "",
    "instanceId": "",
    "orderId": "",
    "deleted": False,
}


def dept(code: str, name: str = "研发部", parent: str = "") -> dict[str, object]:
    return {"orgCode": code, "orgName": name, "parentCode": parent, "orphan": False, "cycle": False}


def test_equal_snapshots_have_no_differences() -> None:
    snapshot = TenantSnapshot(TENANT, [dept("D1")], [], [])
    assert snapshot_differences(snapshot, TenantSnapshot(TENANT, [dept("D1")], [], [])) == []


def test_each_missing_unexpected_or_changed_item_gets_a_line() -> None:
    expected = TenantSnapshot(TENANT, [dept("D1"), dept("D2")], [], [{"appId": "a", "clientId": "x", "instanceId": ""}])
    served = TenantSnapshot(TENANT, [dept("D1", "财务部"), dept("D3")], [], [])
    assert snapshot_differences(expected, served) == [
        "departments D2: missing",
        "departments D3: unexpected " + repr(dept("D3")),
        "departments D1: orgName expected '研发部' got '财务部'",
        "applications a: missing",
    ]


def test_a_missing_or_extra_field_and_a_missing_tenant_are_named() -> None:
    served_tenant = {**TENANT, "extra": 1}
    del served_tenant["deleted"]
    assert snapshot_differences(TenantSnapshot(TENANT), TenantSnapshot(served_tenant)) == [
        "tenant: deleted expected False got '<absent>'; extra expected '<absent>' got 1"
    ]
    assert snapshot_differences(TenantSnapshot(TENANT), TenantSnapshot(None)) == [
        f"tenant: expected {TENANT!r}, got None"
    ]


def test_the_wrong_order_or_a_repeated_item_is_a_difference() -> None:
    expected = TenantSnapshot(None, [dept("D1"), dept("D2")])
    assert snapshot_differences(expected, TenantSnapshot(None, [dept("D2"), dept("D1")])) == [
        "departments: the same items, but not once each in orgCode order"
    ]
    assert snapshot_differences(expected, TenantSnapshot(None, [dept("D1"), dept("D2"), dept("D2")])) == [
        "departments: the same items, but not once each in orgCode order"
    ]


def report(mismatches: int, statuses: dict[str, int]) -> SimulationReport:
    return SimulationReport(
        tenants=10,
        calls_sent=100,
        resent=5,
        accepted=98,
        rejected={"000101": 2},
        retries=1,
        event_statuses=statuses,
        mismatches=[TenantMismatch(f"t{index}", [f"line {n}" for n in range(8)]) for index in range(mismatches)],
        send_elapsed_s=2.0,
        elapsed_s=5.0,
    )


def test_the_rendering_is_short_and_names_the_first_mismatches() -> None:
    text = report(7, {"applied": 95}).render()
    assert text.startswith("simulation FAILED")
    assert "tenants converged 3/10" in text
    assert "000101: 2" in text
    assert "50 calls/s" in text
    assert "t4: 8 difference(s)" in text
    assert "t5" not in text
    assert "line 5" not in text
    assert "and 2 more tenants differ" in text
    assert len(text.splitlines()) < 50


def test_ok_needs_convergence_settlement_and_no_failed_event() -> None:
    assert report(0, {"applied": 90, "stale": 5, "duplicate": 3}).ok
    assert not report(1, {"applied": 98}).ok
    assert not report(0, {"applied": 97, "unsettled": 1}).ok
    assert not report(0, {"applied": 97, "failed": 1}).ok


def test_the_json_form_holds_every_figure() -> None:
    data = report(1, {"applied": 98}).to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["ok"] is False
    assert data["tenantsConverged"] == 9
    assert data["callsPerS"] == 50.0
    assert data["mismatches"][0]["differences"][7] == "line 7"
