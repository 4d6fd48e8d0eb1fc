"""Canonical JSON and the request signature of SPEC §2."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any


def canonical_json(body: Mapping[str, Any]) -> str:
    """Top-level keys sorted, top-level nulls dropped, compact, non-ASCII as is, nested values as received.

    `json.loads` keeps nested key order, so nested objects come out in the order they were sent.
    """
    kept = {key: body[key] for key in sorted(body) if body[key] is not None}
    return json.dumps(kept, ensure_ascii=False, separators=(",", ":"))


def sign(access_key: str, nonce: str, timestamp: str, canonical: str) -> str:
    """hex(HMAC-SHA256(accessKey, accessKey + nonce + timestamp + canonical))."""
    message = (access_key + nonce + timestamp + canonical).encode()
    return hmac.new(access_key.encode(), message, hashlib.sha256).hexdigest()


def matching_key(access_keys: Iterable[str], nonce: str, timestamp: str, canonical: str, signature: str) -> int | None:
    """Index of the access key that produced `signature`, or None.

    Every key is tried (no early exit), each comparison in constant time, case-insensitively.
    """
    presented = signature.strip().lower().encode()
    found: int | None = None
    for index, key in enumerate(access_keys):
        expected = sign(key, nonce, timestamp, canonical).encode()
        if hmac.compare_digest(expected, presented) and found is None:
            found = index
    return found


def signed_headers(access_key: str, nonce: str, timestamp_ms: int, body: Mapping[str, Any]) -> dict[str, str]:
    """The three headers the platform sends with `body` (used by the acker and the simulator)."""
    timestamp = str(timestamp_ms)
    return {
        "x-sign": sign(access_key, nonce, timestamp, canonical_json(body)),
        "x-timestamp": timestamp,
        "x-nonce": nonce,
    }
