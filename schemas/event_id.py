"""Deterministic event identity (SPEC §4)."""

from __future__ import annotations

import hashlib
import json

from schemas.calls import AnyCall, normalised_body

_ID_SCHEME = "syncpipe-event-id/1"


def event_id(call: AnyCall) -> str:
    """32 hex characters derived only from the interface and the normalised body content.

    Headers, whitespace, key order (at every depth), key case and string-encoded lists do not
    change it, so a re-sent call gets the id of its first copy.
    """
    content = json.dumps(normalised_body(call), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(f"{_ID_SCHEME}\n{call.interface}\n{content}".encode()).hexdigest()
    return digest[:32]
