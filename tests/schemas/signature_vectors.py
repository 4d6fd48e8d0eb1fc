"""The platform's reference signatures (../shared/vectors): signatures.jsonl, and signatures_edge.jsonl
whose bodies Jackson writes differently from naive JSON (floats, control characters, astral keys)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

VECTORS = Path(__file__).parents[2].parent / "shared" / "vectors"


class Vector(NamedTuple):
    interface: str
    access_key: str
    nonce: str
    timestamp: str
    body: str
    canonical: str
    sign: str
    note: str

    @property
    def headers(self) -> dict[str, str]:
        return {"x-sign": self.sign, "x-timestamp": self.timestamp, "x-nonce": self.nonce}

    def clock(self) -> float:
        """The verifying clock stands at the moment the platform signed."""
        return int(self.timestamp) / 1000


def load_vectors(name: str) -> list[Vector]:
    # Not splitlines(): bodies may hold U+2028 and other characters it also treats as line breaks.
    lines = [line for line in (VECTORS / name).read_text(encoding="utf-8").split("\n") if line.strip()]
    fields = ("interface", "accessKey", "nonce", "timestamp", "body", "canonical", "sign")
    return [Vector(*(case[field] for field in fields), case.get("note", "")) for case in map(json.loads, lines)]


ALL = load_vectors("signatures.jsonl")
EDGE = load_vectors("signatures_edge.jsonl")
