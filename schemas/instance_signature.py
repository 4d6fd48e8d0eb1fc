"""The signature of SPEC §9 (instance calls): query parameters `signature`, `timestamp`, `nonce`.

    canonical = the body map (schemas.instance_body) with keys sorted by UTF-16 code units, compact,
                non-ASCII as is, only '"', '\\' and U+0000-U+001F escaped
    digest    = lower-case hex( HMAC-SHA256( key = accessKey, canonical ) )
    signature = hex( HMAC-SHA256( key = accessKey, accessKey + nonce + timestamp + digest ) )

Every value of the map is a string, so the canonical form is one escaping rule away from the map.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from schemas.canonical import key_that_signed

# \b \t \n \f \r have short escapes; every other control character is \u00XX with upper-case hex.
_ESCAPES = {chr(code): f"\\u{code:04X}" for code in range(0x20)}
_ESCAPES.update({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"})
_ESCAPED = str.maketrans(_ESCAPES)


def _quoted(text: str) -> str:
    return '"' + text.translate(_ESCAPED) + '"'


def utf16_order(key: str) -> bytes:
    """Sort key of Java's `String` order: UTF-16 code units, which big-endian UTF-16 bytes compare as."""
    return key.encode("utf-16-be", "surrogatepass")


def instance_canonical(body: Mapping[str, str]) -> str:
    """`body` (every value a string) as the platform's library writes it for signing."""
    return "{" + ",".join(f"{_quoted(key)}:{_quoted(body[key])}" for key in sorted(body, key=utf16_order)) + "}"


def instance_digest(access_key: str, canonical: str) -> str:
    return hmac.new(access_key.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def instance_signature(access_key: str, nonce: str, timestamp: str, canonical: str) -> str:
    """hex(HMAC-SHA256(accessKey, accessKey + nonce + timestamp + digest)), digest over `canonical`."""
    message = (access_key + nonce + timestamp + instance_digest(access_key, canonical)).encode()
    return hmac.new(access_key.encode(), message, hashlib.sha256).hexdigest()


def matching_instance_key(
    access_keys: Iterable[str], nonce: str, timestamp: str, canonical: str, signature: str
) -> int | None:
    """Index of the access key that produced `signature` over the instance calls' scheme, or None."""
    return key_that_signed(access_keys, signature, lambda key: instance_signature(key, nonce, timestamp, canonical))


def signed_query(access_key: str, nonce: str, timestamp_ms: int, body: Mapping[str, str]) -> dict[str, str]:
    """The query parameters the platform sends with `body` (read as schemas.instance_body reads it)."""
    timestamp = str(timestamp_ms)
    return {
        "signature": instance_signature(access_key, nonce, timestamp, instance_canonical(body)),
        "timestamp": timestamp,
        "nonce": nonce,
    }
