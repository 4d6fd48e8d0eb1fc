"""`json.dumps`'s compact text, byte for byte, written by orjson wherever orjson writes the very same bytes.

The canonical form (schemas.canonical) and the event id (schemas.event_id) are defined on the text
`json.dumps(value, ensure_ascii=False, separators=(",", ":"))` writes. orjson writes that text too,
in a fifth of the time, except in a few places it is told apart from here:
 - a float: orjson writes `1e-7` where json.dumps writes `1e-07` (and NaN or an infinity as `null`,
   where json.dumps writes `NaN` or refuses it). Any digit followed by `.`, `e` or `E` may be one, and
   any `null` may be a NaN: such text is left to json.dumps (a string that merely looks like one
   only costs the slower path);
 - an integer beyond 64 bits, a lone surrogate, a key that is not a string, a subclass of str, int,
   dict or list, a date or dataclass, nesting deeper than 254: orjson refuses them, so json.dumps
   writes (or refuses) them as it always did.
Keys sort the same in both (by code point: orjson compares their UTF-8 bytes). What is left to the
caller is the input: JSON data (dict, list, str, int, float, bool, None, a str or int enum), as
decoded or validated (orjson would write a plain Enum's value, or a UUID, where json.dumps refuses).
"""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_SORTED = _OPTIONS | orjson.OPT_SORT_KEYS
# Text with every digit made "0" and every ".", "e" and "E" made ".": "0." is where a float may be
# (bytes methods: a regular expression cost as much as the encoding).
_DIGITS_AND_FLOAT_MARKS = bytes(48 if 48 <= byte <= 57 else 46 if byte in b".eE" else 32 for byte in range(256))


def exact_dumps(value: Any, *, sort_keys: bool = False) -> bytes | None:
    """`json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)` encoded
    as UTF-8, when orjson can write it byte for byte (no float, NaN or infinity in it, nothing
    orjson refuses); None when only json.dumps can say what it is."""
    try:
        text = orjson.dumps(value, option=_SORTED if sort_keys else _OPTIONS)
    except orjson.JSONEncodeError:
        return None
    if b"null" in text or b"0." in text.translate(_DIGITS_AND_FLOAT_MARKS):
        return None
    return text
