"""Canonical JSON and the request signature of SPEC §2.

The canonical form is what the platform's Jackson writes for the body read into a map: one function
(`canonical_json`) for everyone who signs or verifies (the gateway, the acker, the simulator, the tests).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from schemas.compact_json import exact_dumps
from schemas.java_double import java_double_string

# json.dumps writes what Jackson writes except two kinds of token: a float and a control character's
# \u00xx escape (lower-case hex; only ever after a backslash). Python's repr of a float always has a
# digit followed by "." or by "e-" / "e+": these literal-first patterns find such places fast (a few
# percent of the json.dumps before them on an ordinary body). Ids hold them too ("t-3e-4f"), so each
# place found is then looked at closely: a float is a whole value, after ":" "," or "[" and before
# "," "]" or "}", and at most 24 characters long. A string may still hold what looks exactly like
# one, which only costs the exact rewrite below.
_FLOAT_HINTS = (re.compile(r"\.(?<=[0-9]\.)"), re.compile(r"-(?<=[0-9]e-)"), re.compile(r"\+(?<=[0-9]e\+)"))
_FLOAT_VALUE = re.compile(r"[:,\[]-?[0-9]+(?:\.[0-9]+(?:e[-+][0-9]+)?|e[-+][0-9]+)[,\]}]")
_FLOAT_REACH = 26  # the longest repr (-1.2345678901234567e-308) and its two delimiters, around the place found
# Past this many places that are not floats, rewriting (exact in any case) costs less than looking on.
_MAX_HINTS = 32
# One match per float, and one per run of everything else between floats: strings (skipped whole, so
# that nothing inside one is taken for a number), integers, punctuation, true/false/null. Possessive,
# so that an integer never ends inside a float and a long run keeps no backtracking state.
_RUN_OR_FLOAT = re.compile(
    r'((?:[^"0-9-]++|"[^"\\]*+(?:\\.[^"\\]*+)*+"|-?[0-9]++(?![.e]))++)'
    r"|(-?[0-9]+(?:\.[0-9]+)?(?:e[-+][0-9]+)?)"
)
# An escaped backslash (taken whole, so that its second half never starts an escape) or a control
# character's escape. Outside strings there is no backslash, so this scans the whole text.
_ESCAPE = re.compile(r"\\\\|\\u00([0-9a-f]{2})")


def canonical_json(body: Mapping[str, Any]) -> str:
    """The text the platform signs for `body`: its Jackson's output byte for byte (SPEC §2).

    Top-level keys in Java's `String` order (UTF-16 code units), top-level nulls dropped; nested
    objects and lists as received (json.loads keeps their order and nulls); compact, non-ASCII as is;
    integers exactly, floats as Java 17's `Double.toString`, control characters as \\b \\t \\n \\f
    \\r or \\u00XX with upper-case hex. ValueError for NaN or an infinity (not JSON); RecursionError
    when nested too deeply to encode.

    A body without a float or a control character costs one orjson.dumps and a scan of its text
    (schemas.compact_json); one with a float, one json.dumps and a few scans.
    """
    kept = {key: body[key] for key in _java_string_order(body) if body[key] is not None}
    exact = exact_dumps(kept)
    if exact is not None:  # json.dumps's very text, and no float in it
        text = exact.decode()
        return _ESCAPE.sub(_upper_case_hex, text) if "\\" in text else text
    text = json.dumps(kept, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if "\\" in text:
        text = _ESCAPE.sub(_upper_case_hex, text)
    if _may_hold_a_float(text):
        text = _RUN_OR_FLOAT.sub(_float_as_java_writes_it, text)
    return text


def _may_hold_a_float(text: str) -> bool:
    """False when json.dumps wrote no float into `text`; True when it did, or when a string looks like one."""
    hints = 0
    for hint in _FLOAT_HINTS:
        # search, not finditer: on the ordinary body that finds nothing it costs half as much.
        place = hint.search(text)
        while place is not None:
            hints += 1
            around = max(0, place.start() - _FLOAT_REACH), place.end() + _FLOAT_REACH
            if hints > _MAX_HINTS or _FLOAT_VALUE.search(text, *around):
                return True
            place = hint.search(text, place.end())
    return False


def _java_string_order(keys: Iterable[str]) -> list[str]:
    """`keys` sorted as Java's String.compareTo sorts them: by UTF-16 code units, where Python's sort
    compares code points. The two differ only for a character beyond U+FFFF: its surrogate pair
    (U+D800-U+DFFF) sorts before U+E000-U+FFFF."""
    ordered = sorted(keys)
    every_key = "".join(ordered)
    if not every_key.isascii() and max(every_key) > "\uffff":
        ordered.sort(key=_utf16_code_units)
    return ordered


def _utf16_code_units(key: str) -> bytes:
    # Big-endian, so that comparing the bytes compares the code units; a lone surrogate is its own unit.
    return key.encode("utf-16-be", "surrogatepass")


def _upper_case_hex(escape: re.Match[str]) -> str:
    hex_digits = escape.group(1)
    return escape.group() if hex_digits is None else "\\u00" + hex_digits.upper()


def _float_as_java_writes_it(token: re.Match[str]) -> str:
    run = token.group(1)
    # repr round-trips, so float() gives back the very double that the body was decoded into.
    return run if run is not None else java_double_string(float(token.group(2)))


def sign(access_key: str, nonce: str, timestamp: str, canonical: str) -> str:
    """hex(HMAC-SHA256(accessKey, accessKey + nonce + timestamp + canonical))."""
    message = (access_key + nonce + timestamp + canonical).encode()
    return hmac.new(access_key.encode(), message, hashlib.sha256).hexdigest()


def matching_key(access_keys: Iterable[str], nonce: str, timestamp: str, canonical: str, signature: str) -> int | None:
    """Index of the access key that produced `signature` over the sync calls' scheme, or None."""
    return key_that_signed(access_keys, signature, lambda key: sign(key, nonce, timestamp, canonical))


def key_that_signed(access_keys: Iterable[str], signature: str, signed_with: Callable[[str], str]) -> int | None:
    """Index of the access key whose `signed_with(key)` is `signature`, or None (any signing scheme).

    Every key is tried (no early exit), each comparison in constant time, case-insensitively.
    """
    presented = signature.strip().lower().encode()
    found: int | None = None
    for index, key in enumerate(access_keys):
        if hmac.compare_digest(signed_with(key).encode(), presented) and found is None:
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
