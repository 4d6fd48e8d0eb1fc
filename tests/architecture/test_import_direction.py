"""Dependencies point one way: syncpipe -> {read_api, signin, gateway, workers} -> {runtime, schemas}.

`schemas` (the wire contract) depends on none of ours; `runtime` (what every process stands on) only
on `schemas`; `gateway`, `workers` and `signin` (which reads the tables the workers write with SQL
of its own) only on those two; `read_api` also reads what `workers` define (the domain records,
dead-letter re-drive); `syncpipe` (the commands, the composition root) may import everything.
Every import in the source is checked, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ALLOWED: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "runtime": frozenset({"schemas"}),
    "gateway": frozenset({"schemas", "runtime"}),
    "workers": frozenset({"schemas", "runtime"}),
    "read_api": frozenset({"schemas", "runtime", "workers"}),
    "signin": frozenset({"schemas", "runtime"}),
    "syncpipe": frozenset({"schemas", "runtime", "gateway", "workers", "read_api", "signin"}),
}


def imported_packages(source: Path) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import in `source` that names one of ours."""
    found = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"), filename=str(source))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, name.split(".")[0]) for name in names if name.split(".")[0] in ALLOWED]
    return found


def violations(package: str) -> list[str]:
    own_and_allowed = ALLOWED[package] | {package}
    return [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, target in imported_packages(path)
        if target not in own_and_allowed
    ]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_inward(package: str) -> None:
    assert violations(package) == []


def test_the_checker_sees_an_import_against_the_direction(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text("def late():\n    from syncpipe.cli import main\n    import gateway.app\n")
    assert imported_packages(source) == [(2, "syncpipe"), (3, "gateway")]


def test_no_cycle_between_the_applier_and_the_acker() -> None:
    acks = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted((ROOT / "workers" / "acks").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workers.applier")
    ]
    assert acks == []
