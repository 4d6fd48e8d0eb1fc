"""Dependencies point one way: syncpipe -> {read_api, signin, gateway, workers} -> {runtime, schemas}.

`schemas` (the wire contract) depends on none of ours; `runtime` (what every process stands on) only
on `schemas`; `gateway`, `workers` and `signin` (which reads the tables the workers write with SQL
of its own) only on those two; `read_api` also reads what `workers` define (the domain records,
dead-letter re-drive); `syncpipe` (the commands, the composition root) may import everything.
`benchmarks` and `tests` may import the product; no package of the product imports them.
Every import in the source is checked, including those inside functions, and every top-level
package of the repository must be listed here.
"""

from __future__ import annotations

import ast
import tomllib
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
# Ours but not the product's: they may import the product, the product never imports them.
OUTSIDE_THE_PRODUCT = frozenset({"benchmarks", "tests"})
OURS = frozenset(ALLOWED) | OUTSIDE_THE_PRODUCT


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
        found += [(node.lineno, name.split(".")[0]) for name in names if name.split(".")[0] in OURS]
    return found


def violations(package: str, root: Path = ROOT) -> list[str]:
    own_and_allowed = ALLOWED[package] | {package}
    return [
        f"{path.relative_to(root)}:{line} imports {target}"
        for path in sorted((root / package).rglob("*.py"))
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


def test_every_package_of_the_repository_is_checked() -> None:
    """A new top-level package (or one pyproject.toml installs) cannot escape the check by being unlisted."""
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")}
    assert packages == set(OURS)
    installed = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = installed["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {pattern.rstrip("*") for pattern in include} == set(ALLOWED)


@pytest.mark.parametrize(
    ("package", "wrong"),
    [
        ("schemas", "runtime.settings"),
        ("runtime", "gateway.app"),
        ("gateway", "workers.outcomes"),
        ("workers", "read_api.app"),
        ("signin", "workers.outcomes"),
        ("read_api", "gateway.app"),
        ("read_api", "signin.app"),
        ("syncpipe", "benchmarks.report"),
        ("workers", "tests.running"),
    ],
)
def test_an_import_against_the_direction_fails_the_check(tmp_path: Path, package: str, wrong: str) -> None:
    """Planted in a copy of the layout, deep in a subpackage and inside a function, it is reported."""
    module = tmp_path / package / "deep" / "module.py"
    module.parent.mkdir(parents=True)
    allowed = [f"import {name}.anything" for name in sorted(ALLOWED[package] | {package})]
    module.write_text("\n".join([*allowed, "", "", "def late():", f"    from {wrong} import name", ""]))
    target = wrong.partition(".")[0]
    assert violations(package, tmp_path) == [f"{package}/deep/module.py:{len(allowed) + 4} imports {target}"]


def test_no_cycle_between_the_applier_and_the_acker() -> None:
    acks = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in sorted((ROOT / "workers" / "acks").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workers.applier")
    ]
    assert acks == []
