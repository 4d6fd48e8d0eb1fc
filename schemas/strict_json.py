"""JSON as the contract reads it (SPEC §3), for a body and for a list sent inside a string alike.

Stricter than `json.loads` where it would lose or invent data: NaN, Infinity and numbers too large
for a float (1e400) are refused, since they would be stored as null; so is an unpaired UTF-16
surrogate escape (no UTF-8 form, so it can be neither signed nor stored) and nesting deeper than
the decoder's stack.

`loads_utf8` decodes a body's bytes the same way, in a fifth of the time for an ordinary body, by
orjson where it gives exactly what `loads` gives (see there).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import orjson

# A JSON escape that may encode half of a UTF-16 surrogate pair (\uD800-\uDFFF).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
# orjson decodes an integer beyond 64 bits as a float, where json.loads keeps it exact: 19 digits in
# a row may be one (or a long fraction, a string of digits: those just take the slower path).
_LONG_DIGITS = b"0" * 19
# json.loads refuses nesting deeper than the interpreter's recursion limit (1000, less the caller's
# frames), orjson only past 1024 levels. A body with at most this many `[` and `{` nests no deeper.
_FAST_MAX_CONTAINERS = 512
# A body's bytes with every digit made "0", `[` and `{` made "[", the rest " ": both looked for with
# bytes methods (a regular expression for a run of digits cost five times the decoding).
_DIGITS_AND_OPENINGS = bytes(b"0"[0] if 48 <= byte <= 57 else b"["[0] if byte in b"[{" else 32 for byte in range(256))


class NotJson(ValueError):
    """The text is not JSON the contract accepts; the message says why (no "not valid JSON" prefix)."""


class NestedTooDeeply(NotJson):
    """Deeper than the decoder's stack allows."""


def loads(text: str) -> Any:
    """`text` decoded, or NotJson saying what is wrong with it."""
    try:
        value = json.loads(text, parse_constant=_not_a_number, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise NotJson(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:  # NaN/Infinity, 1e400, an integer too long to convert
        raise NotJson(str(exc)) from None
    except RecursionError:
        raise NestedTooDeeply("nested too deeply") from None
    if _SURROGATE_ESCAPE.search(text) and not _encodable(value):
        raise NotJson("unpaired UTF-16 surrogate escape")
    return value


def loads_utf8(raw: bytes) -> Any:
    """`raw` decoded as UTF-8 and then as `loads` decodes text: the same value, or the same NotJson;
    UnicodeDecodeError if it is not UTF-8.

    orjson decodes first, unless the body may hold what it reads differently from json.loads (a
    long integer, nesting json.loads refuses); where orjson refuses, json.loads decodes again, so
    what is refused, and with which reason, does not change (orjson pairs surrogate escapes as
    json.loads does, and refuses an unpaired one, as it refuses NaN and 1e400).
    """
    shape = raw.translate(_DIGITS_AND_OPENINGS)
    if shape.count(b"[") <= _FAST_MAX_CONTAINERS and _LONG_DIGITS not in shape:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    return loads(raw.decode("utf-8"))


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if math.isinf(value):
        raise ValueError(f"{literal[:32]} is out of range for a number")
    return value


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return False
    return True
