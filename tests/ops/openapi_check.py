"""What `runtime/openapi.json` promises each operation may answer, for checking real answers against it."""

from __future__ import annotations

import re
from typing import NamedTuple

from runtime.openapi import openapi_document


class Operation(NamedTuple):
    template: str
    method: str
    statuses: frozenset[int]
    tags: frozenset[str]


def documented_operations() -> dict[tuple[str, str], Operation]:
    """(path template, METHOD) -> the operation; GET operations also answer HEAD (aiohttp adds it)."""
    operations = {}
    for template, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            statuses = frozenset(int(code) for code in operation["responses"])
            entry = Operation(template, method.upper(), statuses, frozenset(operation.get("tags", ())))
            operations[(template, method.upper())] = entry
            if method == "get":
                operations[(template, "HEAD")] = entry._replace(method="HEAD")
    return operations


def template_of(path: str, templates: list[str]) -> str | None:
    """The documented template a (decoded) path matches, if any."""
    for template in templates:
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return template
    return None
