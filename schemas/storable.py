"""What a call may hold to be storable at all: no NUL character anywhere, at most MAX_NESTING levels.

Postgres text and jsonb cannot store a NUL (U+0000), and the event's Kafka record cannot hold a call
nested deeper than MAX_NESTING levels: `refuse_unstorable` finds either in decoded JSON and raises
InvalidCall naming where, as pydantic names a field (`orgInfoList.3.orgName`).
"""

from __future__ import annotations

from typing import Any, TypeAlias

from schemas.exceptions import InvalidCall

# A container of decoded JSON still to be searched: (the entry of the container holding it, its key
# or index there, the container, its level). The path to what is refused is rebuilt from these links
# only once something is found: the search itself allocates nothing per string.
_Pending: TypeAlias = tuple["_Pending | None", str | int, dict[str, Any] | list[Any], int]
_NUL = "\x00"
NUL_REASON = "contains a NUL character (\\u0000), which cannot be stored"
# The deepest nesting of objects and lists a call may hold, its body being level 1. Pydantic
# serialises at most 254 levels inside a value of type Any, and each value in the event envelope's
# `call` is one: a deeper call could never be written to Kafka, so refusing one refuses nothing stored.
MAX_NESTING = 255
TOO_DEEP_REASON = f"nested too deeply (more than {MAX_NESTING} levels of objects and lists)"
# Longest key (or part of one) quoted in a field path: an unknown key may be megabytes long.
_PATH_PART_CHARS = 64
# Parts of the path quoted for a value nested too deeply: the field, or the entry and its field.
_DEEP_PATH_PARTS = 3


def refuse_unstorable(data: dict[str, Any] | list[Any], prefix: tuple[str, ...] = (), level: int = 1) -> None:
    """Raise InvalidCall naming where decoded JSON `data` (at `level` of the body) holds what no
    store takes: a NUL (U+0000) in a string or key, or more than MAX_NESTING levels of nesting.

    Postgres text and jsonb cannot store a NUL, so a call holding one anywhere (a field, a
    department, an unknown field kept in the normalised body, a key) could never be applied. In raw
    JSON it can only come as the escape `\\u0000`: a literal control character inside a string is
    invalid JSON. A loop rather than recursion, so that no nesting json.loads accepts can exhaust the
    stack; types are compared exactly, as decoded JSON holds no subclasses.
    """
    pending: list[_Pending] = [(None, "", data, level)]
    while pending:
        entry = pending.pop()
        container, inner = entry[2], entry[3] + 1
        if entry[3] > MAX_NESTING:
            raise _too_deep(prefix, entry)
        for key, item in container.items() if container.__class__ is dict else enumerate(container):
            if key.__class__ is str and _NUL in key:
                raise _nul_found(prefix, entry, key, in_name=True)
            if item.__class__ is str:
                if _NUL in item:
                    raise _nul_found(prefix, entry, key)
            elif item.__class__ is list:
                pending.append((entry, key, item, inner))
            elif item.__class__ is dict:
                # Searched at once rather than queued: nearly every object holds only scalars (a large
                # allOrgSync is 100k departments), and queueing each one cost 40% of the search.
                if inner > MAX_NESTING:
                    raise _too_deep(prefix, (entry, key, item, inner))
                for name, member in item.items():
                    if name.__class__ is str and _NUL in name:
                        raise _nul_found(prefix, (entry, key, item, inner), name, in_name=True)
                    if member.__class__ is str:
                        if _NUL in member:
                            raise _nul_found(prefix, (entry, key, item, inner), name)
                    elif member.__class__ is dict or member.__class__ is list:
                        pending.append(((entry, key, item, inner), name, member, inner + 1))


def _nul_found(prefix: tuple[str, ...], entry: _Pending, key: str | int, *, in_name: bool = False) -> InvalidCall:
    """The error naming `key` of the container in `entry`: `orgInfoList.3.orgName`, as pydantic's
    errors are named, with a NUL in a key shown as `\\u0000` and long keys cut short."""
    field = _field_name(_path(prefix, entry, key))
    return InvalidCall(field, f"the field name {NUL_REASON}" if in_name else NUL_REASON)


def _too_deep(prefix: tuple[str, ...], entry: _Pending) -> InvalidCall:
    """The error naming the container in `entry` by the first parts of its path (`orgInfoList.3.tags…`):
    the whole path is hundreds of parts long."""
    path = _path(prefix, entry)
    field = _field_name(path[:_DEEP_PATH_PARTS]) + ("…" if len(path) > _DEEP_PATH_PARTS else "")
    return InvalidCall(field, TOO_DEEP_REASON)


def _path(prefix: tuple[str, ...], entry: _Pending, *last: str | int) -> list[str]:
    """The keys and indexes leading to the container in `entry` (and then to `last`), NULs shown as `\\u0000`."""
    parts: list[str | int] = list(last)
    link: _Pending | None = entry
    while link is not None and link[0] is not None:
        parts.append(link[1])
        link = link[0]
    return [str(part).replace(_NUL, "\\u0000") for part in (*prefix, *reversed(parts))]


def _field_name(path: list[str]) -> str:
    return ".".join(part if len(part) <= _PATH_PART_CHARS else part[:_PATH_PART_CHARS] + "…" for part in path)
