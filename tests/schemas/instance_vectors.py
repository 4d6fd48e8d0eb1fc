"""The platform's reference cases for the instance calls (../shared/vectors/instance_signatures.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

VECTORS = Path(__file__).parents[2].parent / "shared" / "vectors" / "instance_signatures.jsonl"


class InstanceVector(NamedTuple):
    case: str
    activity: str
    access_key: str
    nonce: str
    timestamp: str
    body: str
    canonical: str
    digest: str
    signature: str

    @property
    def query(self) -> dict[str, str]:
        return {"signature": self.signature, "timestamp": self.timestamp, "nonce": self.nonce}

    def clock(self) -> float:
        """The verifying clock stands at the moment the platform signed."""
        return int(self.timestamp) / 1000


def load_instance_vectors() -> list[InstanceVector]:
    # Not splitlines(): bodies may hold U+2028 and other characters it also treats as line breaks.
    lines = [line for line in VECTORS.read_text(encoding="utf-8").split("\n") if line.strip()]
    fields = ("case", "activity", "accessKey", "nonce", "timestamp", "body", "canonical", "encryptBody", "signature")
    return [InstanceVector(*(case[name] for name in fields)) for case in map(json.loads, lines)]


ALL = load_instance_vectors()
