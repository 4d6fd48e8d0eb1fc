"""Secrets taken out of a stored call or a dead record before a person sees it (console, `dlq show`).

`clientSecret` is the one secret SPEC §1 names, but unknown fields are kept (§1), so a sender may
add others: every key that looks secret-like is redacted, and so is any value holding a PEM private
key, whatever its key. Redaction happens on the server: what the browser never receives it cannot leak.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"
MAX_PAYLOAD_SHOWN_BYTES = 256 * 1024  # a full sync may be 32 MiB: past this, its start as text

# Matched against a key lowercased with everything but letters and digits removed ("client_secret",
# "clientSecret" and "Client-Secret" are one key).
_SECRET_KEY_PARTS = ("secret", "password", "passwd", "passphrase", "token", "privatekey", "credential", "apikey")
_SECRET_KEY_NAMES = frozenset({"sign", "xsign", "signature", "accesskey", "pwd"})
_PRIVATE_KEY_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
# In text that is not JSON: `key: value`, `key=value` or `"key": "value"` with a secret-like key.
_SECRET_PAIR = re.compile(
    r"""(?P<key>["']?[A-Za-z0-9_-]*(?:secret|password|passwd|token|private|credential|api_?key|access_?key|sign)"""
    r"""[A-Za-z0-9_-]*["']?\s*[:=]\s*)(?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&}\]]+)""",
    re.IGNORECASE,
)


def is_secret_key(key: str) -> bool:
    normalized = "".join(character for character in key.lower() if character.isalnum())
    return normalized in _SECRET_KEY_NAMES or any(part in normalized for part in _SECRET_KEY_PARTS)


def redact(value: Any) -> Any:
    """A copy of the JSON value `value` with the value of every secret-like key, at any depth, and
    every string holding a private key replaced by REDACTED."""
    if isinstance(value, dict):
        return {key: REDACTED if is_secret_key(str(key)) else redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return _redact_string(value)
    return value


def redact_text(text: str) -> str:
    """Raw text (a record that is not JSON): secret-like `key: value` pairs and private keys masked."""
    if _PRIVATE_KEY_PEM.search(text):
        return REDACTED
    return _SECRET_PAIR.sub(lambda match: match["key"] + REDACTED, text)


def _redact_string(value: str) -> str:
    if _PRIVATE_KEY_PEM.search(value):
        return REDACTED
    # Real senders nest JSON in strings (`orgInfoList` as a string, SPEC §1): secrets may hide there too.
    stripped = value.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            nested = json.loads(value)
        except ValueError:
            return redact_text(value)
        redacted = redact(nested)
        return value if redacted == nested else json.dumps(redacted, ensure_ascii=False)
    return value


def shown_headers(headers: Iterable[tuple[str, bytes]]) -> list[tuple[str, str]]:
    """A record's headers for a person: (name, value as text), the value of a secret-like name redacted."""
    return [
        (name, REDACTED if is_secret_key(name) else value.decode("utf-8", errors="replace")) for name, value in headers
    ]


def shown_text(value: bytes, limit: int = MAX_PAYLOAD_SHOWN_BYTES) -> str:
    """The start of a record that is not JSON, as text, its secret-like pairs and private keys masked."""
    return redact_text(value[:limit].decode("utf-8", errors="replace"))


def shown_payload(value: bytes | None) -> dict[str, Any]:
    """`payload` (redacted JSON) when `value` is JSON and small enough, else `payloadText` (redacted
    text, cut at MAX_PAYLOAD_SHOWN_BYTES); `payloadBytes` is the whole size."""
    shown: dict[str, Any] = {"payload": None, "payloadText": None, "payloadBytes": 0, "payloadTruncated": False}
    if value is None:
        return shown
    shown["payloadBytes"] = len(value)
    try:
        decoded = json.loads(value)
    except ValueError:
        decoded = None
    if decoded is not None and len(value) <= MAX_PAYLOAD_SHOWN_BYTES:
        return {**shown, "payload": redact(decoded)}
    if decoded is not None:
        text = json.dumps(redact(decoded), ensure_ascii=False, indent=2)[:MAX_PAYLOAD_SHOWN_BYTES]
    else:
        text = shown_text(value)
    return {**shown, "payloadText": text, "payloadTruncated": len(value) > MAX_PAYLOAD_SHOWN_BYTES}
