"""Where what the read API serves differs from the model, in lines a person can read."""

from __future__ import annotations

from typing import Any

from syncpipe.simulation.snapshot import Json, TenantSnapshot

# Each list's items are told apart by this field (SPEC §1: unique within a tenant).
_KEYS = (("departments", "orgCode"), ("users", "userName"), ("applications", "appId"))
_ABSENT = "<absent>"


def snapshot_differences(expected: TenantSnapshot, actual: TenantSnapshot) -> list[str]:
    """One line per differing item (empty when the snapshots are equal)."""
    lines = []
    if expected.tenant != actual.tenant:
        lines.append(f"tenant: {_field_differences(expected.tenant, actual.tenant)}")
    for section, key in _KEYS:
        lines += _list_differences(section, key, getattr(expected, section), getattr(actual, section))
    return lines


def _list_differences(section: str, key: str, expected: list[Json], actual: list[Json]) -> list[str]:
    if expected == actual:
        return []
    wanted = {item.get(key): item for item in expected}
    served = {item.get(key): item for item in actual}
    lines = [f"{section} {name}: missing" for name in sorted(wanted.keys() - served.keys(), key=str)]
    lines += [
        f"{section} {name}: unexpected {_short(served[name])}"
        for name in sorted(served.keys() - wanted.keys(), key=str)
    ]
    lines += [
        f"{section} {name}: {_field_differences(wanted[name], served[name])}"
        for name in sorted(wanted.keys() & served.keys(), key=str)
        if wanted[name] != served[name]
    ]
    if not lines:
        lines.append(f"{section}: the same items, but not once each in {key} order")
    return lines


def _field_differences(expected: Json | None, actual: Json | None) -> str:
    if expected is None or actual is None:
        return f"expected {_short(expected)}, got {_short(actual)}"
    fields = sorted(expected.keys() | actual.keys())
    return "; ".join(
        f"{field} expected {_short(expected.get(field, _ABSENT))} got {_short(actual.get(field, _ABSENT))}"
        for field in fields
        if expected.get(field, _ABSENT) != actual.get(field, _ABSENT)
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
