"""What the README and docs/configuration.md promise that would otherwise drift silently from the code.

The configuration table (docs/configuration.md) lists every field of `Settings` under its environment
name, with its default; the test command the README shows is the one CI runs; the README stays a
newcomer's page (150 lines at most) whose "Where things are" names every top-level folder and only
files and functions that exist.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from runtime.environment import env_name
from runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
CI_SCRIPT = ROOT / ".ci" / "run"


def as_written(default: object) -> str:
    """A default the way the configuration table writes it: `unset`, `60` for 60.0, else as is."""
    if default is None or default == ():
        return "unset"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    return str(default)


def section(title: str) -> str:
    """The README's text under `## title`, up to the next `##` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.MULTILINE | re.DOTALL)
    assert match, f"the README has no '## {title}' section"
    return match[1]


def configuration_defaults() -> dict[str, str]:
    """Each variable of the table in docs/configuration.md with its default as written.

    A row may name several variables (`A` / `B`) with as many defaults (`1` / `2`), or one for all.
    """
    defaults: dict[str, str] = {}
    for line in CONFIGURATION.splitlines():
        cells = [cell.strip() for cell in line.split("|")[1:-1]]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue  # prose, the header row or its rule
        names = re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        values = [value.strip().strip("`") for value in cells[1].split(" / ")]
        if len(values) == 1:
            values *= len(names)
        assert len(values) == len(names), f"a default per variable, or one for all: {line}"
        defaults.update(zip(names, values, strict=True))
    return defaults


def ci_commands() -> list[str]:
    """The commands `.ci/run` runs, past its comments and shell set-up (`set`, `cd`)."""
    lines = (line.strip() for line in CI_SCRIPT.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#") and not re.match(r"(set|cd)\b", line)]


def test_every_setting_has_a_configuration_row_with_its_default() -> None:
    documented = configuration_defaults()
    settings = {env_name(name): field for name, field in Settings.model_fields.items()}

    missing = sorted(settings.keys() - documented.keys())
    assert not missing, f"settings with no row in the table of docs/configuration.md: {missing}"
    wrong = {
        env: f"docs/configuration.md {documented[env]!r}, settings.py {as_written(default)!r}"
        for env, field in settings.items()
        if documented[env] != as_written(default := field.get_default(call_default_factory=True))
    }
    assert not wrong, f"defaults that differ: {wrong}"


def test_the_two_commands_come_first_and_ci_runs_the_test_command_as_written() -> None:
    first_section = re.search(r"^## (.+)$", README, re.MULTILINE)
    assert first_section is not None
    assert first_section[1] == "The two commands"
    blocks = re.findall(r"^```bash\n(.*?)^```", section("The two commands"), re.MULTILINE | re.DOTALL)
    assert len(blocks) == 2, "one block for `./dev up`, one for the test command"
    assert blocks[0].strip() == "./dev up"
    assert blocks[1].strip().splitlines() == ci_commands()


README_MAX_LINES = 150


def test_the_readme_is_a_page_a_newcomer_reads() -> None:
    """The reference material lives in docs/; the README had grown back to 167 lines unnoticed."""
    assert len(README.splitlines()) <= README_MAX_LINES


def top_level_folders() -> set[str]:
    """The repository's folders at its root that hold a tracked file, hidden ones (.ci) aside."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {path.split("/")[0] for path in tracked.splitlines() if "/" in path and not path.startswith(".")}


def test_where_things_are_names_every_folder_and_what_is_in_it() -> None:
    rows = re.findall(r"^\| `([\w.-]+)/` \| (.+) \|$", section("Where things are"), re.MULTILINE)
    assert {folder for folder, _ in rows} == top_level_folders()
    missing = [
        f"{folder}/{name}"
        for folder, text in rows
        for name in re.findall(r"`([\w.-]+(?:\.py|/))`", text)
        if not (ROOT / folder / name).exists()
    ]
    assert not missing, f"named in 'Where things are' but not there: {missing}"


def test_where_a_full_sync_the_signature_acks_the_read_api_and_the_console_are() -> None:
    """The paragraph under the table: each path exists (a bare name is beside the path before it) and
    each `function` said to be `in` a file is defined there."""
    where = section("Where things are").split("\n\n")[-2]
    for question in ("full sync applied", "signature checked", "ack sent", "read API", "console"):
        assert question in where.replace("**", "")
    missing, beside = [], ROOT
    for name in re.findall(r"`([\w./-]+(?:\.py|/))`", where):
        path = ROOT / name if (ROOT / name).exists() else beside / name
        if not path.exists():
            missing.append(name)
        beside = path if path.is_dir() else path.parent
    assert not missing, f"named but not there: {missing}"
    for function, file in re.findall(r"`(\w+)` in `([\w/]+\.py)`", where):
        assert f"def {function}(" in (ROOT / file).read_text(encoding="utf-8"), f"{function} is not in {file}"
