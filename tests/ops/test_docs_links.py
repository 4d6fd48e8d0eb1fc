"""The README and docs/ link only inside the repository, and every link finds its file and heading.

Sections move between the README and docs/ often; a link to a heading that moved would otherwise break
silently.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)


def prose(page: Path) -> str:
    """The page without its code: neither a heading nor a link is read from a code block or span."""
    return _FENCED.sub("", page.read_text(encoding="utf-8"))


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces as hyphens,
    a repeated heading numbered (`-1`, `-2`)."""
    found: set[str] = set()
    for heading in _HEADING.findall(prose(page)):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower()).replace(" ", "-")
        candidate, repeat = slug, 0
        while candidate in found:
            repeat += 1
            candidate = f"{slug}-{repeat}"
        found.add(candidate)
    return found


def links(page: Path) -> list[str]:
    return _LINK.findall(_INLINE_CODE.sub("", prose(page)))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_link_stays_in_the_repository_and_finds_its_target(page: Path) -> None:
    broken = []
    for link in links(page):
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if "://" in link or link.startswith("mailto:") or not target.is_relative_to(ROOT):
            broken.append(f"{link}: outside the repository")
        elif not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and (target.suffix != ".md" or anchor not in anchors(target)):
            broken.append(f"{link}: no heading with that anchor in {target.relative_to(ROOT)}")
    assert not broken, broken


def test_the_openapi_document_names_files_of_the_repository_only() -> None:
    """Both servers serve runtime/openapi.json: the documents it points to are in the repository."""
    text = (ROOT / "runtime" / "openapi.json").read_text(encoding="utf-8")
    named = re.findall(r"[\w./-]+\.md\b", text)
    assert named
    outside = [name for name in named if not (ROOT / name).resolve().is_relative_to(ROOT) or not (ROOT / name).exists()]
    assert not outside, f"runtime/openapi.json names what the repository does not hold: {outside}"


def test_every_spec_section_the_code_cites_is_told_in_the_contract() -> None:
    """Code and docs cite the platform's specification as `SPEC §N`; a newcomer reads it in docs/contract.md."""
    told = set(re.findall(r"§(\d+) \[", (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")))
    sources = [*ROOT.glob("[!.]*/**/*.py"), *ROOT.glob("[!.]*/**/*.js"), *PAGES]
    cited = {number for source in sources for number in re.findall(r"SPEC §(\d+)", source.read_text(encoding="utf-8"))}
    assert cited
    assert not cited - told, f"SPEC sections cited but not told in docs/contract.md: {sorted(cited - told)}"
