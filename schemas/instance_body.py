"""Reading an instance call's body as SPEC §9 signs it: a map of top-level values, each as its source text.

The platform's library reads the body into a map of strings: a string value is its text, a number keeps
the digits it was sent with (`12.780` stays `"12.780"`, `1.5E2` stays `"1.5E2"`), `true`/`false` are
those words, a null is dropped, and of duplicate keys the last wins. A nested object or list has no
such form and is refused, naming its key. So is what could be neither signed nor stored: an unpaired
UTF-16 surrogate escape (no UTF-8 form) and a NUL character (Postgres text cannot hold one).
"""

from __future__ import annotations

import json
from typing import Any

from schemas.exceptions import InvalidCall

# The longest key quoted in an error: an unknown key may be megabytes long.
_KEY_SHOWN_CHARS = 64


class _Pairs(list[tuple[str, Any]]):
    """An object as the decoder met it: its (key, value) pairs in order, duplicates kept."""


def read_instance_body(raw: bytes) -> dict[str, str]:
    """The body's top-level values as source text, nulls dropped, the last of duplicate keys winning.

    Raises InvalidCall naming `body` (not UTF-8, not JSON, not an object) or the offending key.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidCall("body", f"not valid UTF-8 (byte {exc.start})") from None
    try:
        # Numbers keep their source text; NaN and Infinity are not JSON.
        decoded = json.loads(text, parse_int=str, parse_float=str, parse_constant=_not_json, object_pairs_hook=_Pairs)
    except json.JSONDecodeError as exc:
        raise InvalidCall("body", f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except ValueError as exc:
        raise InvalidCall("body", f"not valid JSON ({exc})") from None
    except RecursionError:
        raise InvalidCall("body", "not valid JSON (nested too deeply)") from None
    if not isinstance(decoded, _Pairs):
        raise InvalidCall("body", "must be a JSON object")
    values: dict[str, Any] = dict(decoded)
    body: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        body[key] = _source_text(key, value)
        _storable(key, body[key])
    return body


def _source_text(key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = "an object" if isinstance(value, _Pairs) else "a list"
    raise InvalidCall(_shown(key), f"is {kind}: instance calls carry only top-level strings, numbers and booleans")


def _storable(key: str, value: str) -> None:
    for text, where in ((key, "the field name"), (value, "the value")):
        if "\x00" in text:
            raise InvalidCall(_shown(key), f"{where} contains a NUL character (\\u0000), which cannot be stored")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidCall(_shown(key), f"{where} holds an unpaired UTF-16 surrogate escape") from None


def _shown(key: str) -> str:
    key = key.replace("\x00", "\\u0000")
    return key if len(key) <= _KEY_SHOWN_CHARS else key[:_KEY_SHOWN_CHARS] + "…"


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
