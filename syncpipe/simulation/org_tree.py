"""The department tree the platform believes a tenant has, as the generator grows and changes it.

Plain data: `departments` maps orgCode to (orgName, parentCode). It may hold what the platform
really sends: a parent that does not exist and, after a bad move, a loop; every walk here tolerates
both.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from syncpipe.simulation import names

MAX_LEVELS = 6  # deepest org charts the generator builds (real ones are 3-6 levels)


class OrgTree:
    def __init__(self) -> None:
        self.departments: dict[str, tuple[str, str]] = {}

    def grow(self, rng: random.Random, count: int, new_code: Callable[[], str]) -> None:
        """Add `count` departments: a chain down to a depth of 3-6 levels, the rest hung below it."""
        levels = rng.randint(3, MAX_LEVELS)
        single_root = rng.random() < 0.6
        parent = ""
        for level in range(min(levels, count)):
            code = new_code()
            self.departments[code] = (names.department_name(rng, level), parent)
            parent = code
        for _ in range(count - min(levels, count)):
            self.add(rng, new_code(), levels=levels, top_level_rate=0.0 if single_root else 0.1)

    def add(self, rng: random.Random, code: str, *, levels: int = MAX_LEVELS, top_level_rate: float = 0.05) -> None:
        """Hang `code` under a random department shallow enough to keep `levels` levels.

        Departments already naming `code` as their parent (sent before it) are not candidates.
        """
        own = self.subtree(code)
        shallow = sorted(c for c in self.departments if c not in own and self.depth(c) < levels - 1)
        parent = "" if not shallow or rng.random() < top_level_rate else rng.choice(shallow)
        depth = self.depth(parent) + 1 if parent else 0
        self.departments[code] = (names.department_name(rng, depth), parent)

    def rename(self, rng: random.Random, code: str) -> None:
        _, parent = self.departments[code]
        self.departments[code] = (names.department_name(rng, 1 if parent else 0), parent)

    def move(self, rng: random.Random, code: str, *, into_own_subtree: bool) -> None:
        """Give `code` a new parent; `into_own_subtree` closes a loop (the platform's mistake)."""
        own = self.subtree(code)
        if into_own_subtree:
            parent = rng.choice(sorted(own))
        else:
            elsewhere = sorted(c for c in self.departments if c not in own and self.depth(c) < MAX_LEVELS - 1)
            parent = rng.choice(elsewhere) if elsewhere and rng.random() > 0.1 else ""
        self.departments[code] = (self.departments[code][0], parent)

    def drift(self, rng: random.Random, new_code: Callable[[], str]) -> None:
        """Rename a few, drop a few leaves, add a few: what a later full snapshot may say."""
        for code in sorted(self.departments):
            if rng.random() < 0.1:
                self.rename(rng, code)
        for code in self.leaves():
            if rng.random() < 0.05:
                del self.departments[code]
        for _ in range(max(1, len(self.departments) // 20)):
            self.add(rng, new_code())

    def pick(self, rng: random.Random, *, prefer_leaf: bool = False) -> str | None:
        """A random department (usually a leaf if `prefer_leaf`), or None when there is none."""
        leaves = self.leaves() if prefer_leaf and rng.random() < 0.8 else []
        pool = leaves or sorted(self.departments)
        return rng.choice(pool) if pool else None

    def listing(self, rng: random.Random) -> list[dict[str, Any]]:
        """The flat `orgInfoList` of a full snapshot, in no particular order (children may precede parents)."""
        listed = [
            {"orgCode": code, "orgName": name, "parentCode": parent}
            for code, (name, parent) in self.departments.items()
        ]
        rng.shuffle(listed)
        return listed

    def depth(self, code: str) -> int:
        """Links from `code` up to a top-level department, a missing parent or a loop."""
        seen = {code}
        depth = 0
        parent = self.departments[code][1] if code in self.departments else ""
        while parent in self.departments and parent not in seen:
            seen.add(parent)
            depth += 1
            parent = self.departments[parent][1]
        return depth

    def subtree(self, code: str) -> set[str]:
        """`code` and every department below it."""
        children: dict[str, list[str]] = {}
        for child, (_, parent) in self.departments.items():
            children.setdefault(parent, []).append(child)
        found = {code}
        frontier = [code]
        while frontier:
            for child in children.get(frontier.pop(), ()):
                if child not in found:
                    found.add(child)
                    frontier.append(child)
        return found

    def leaves(self) -> list[str]:
        parents = {parent for _, parent in self.departments.values()}
        return sorted(code for code in self.departments if code not in parents)
