"""Deterministic event identity (SPEC §4)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from schemas.calls import AnyCall, Interface, normalised_body
from schemas.compact_json import exact_dumps

_ID_SCHEME = "syncpipe-event-id/1"


def event_id(call: AnyCall) -> str:
    """32 hex characters derived only from the interface and the normalised body content.

    Headers, whitespace, key order (at every depth), key case and string-encoded lists do not
    change it, so a re-sent call gets the id of its first copy.
    """
    return event_id_of(call.interface, normalised_body(call))


def event_id_of(interface: Interface, normalised: dict[str, Any]) -> str:
    """`event_id` of a call whose `normalised_body` the caller already holds (it is not cheap to make)."""
    content = exact_dumps(normalised, sort_keys=True)
    if content is None:
        content = json.dumps(normalised, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(f"{_ID_SCHEME}\n{interface}\n".encode() + content).hexdigest()[:32]
