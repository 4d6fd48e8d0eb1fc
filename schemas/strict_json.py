"""JSON as the contract reads it (SPEC §3), for a body and for a list sent inside a string alike.

Stricter than `json.loads` where it would lose or invent data: NaN, Infinity and numbers too large
for a float (1e400) are refused, since they would be stored as null; so is an unpaired UTF-16
surrogate escape (no UTF-8 form, so it can be neither signed nor stored) and nesting deeper than
the decoder's stack.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

# A JSON escape that may encode half of a UTF-16 surrogate pair (\uD800-\uDFFF).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


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
