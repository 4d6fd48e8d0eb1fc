"""Reading a request's path and query parameters: what cannot name anything is a 400, never a query."""

from __future__ import annotations

from aiohttp import web

from read_api.exceptions import InvalidRequest

# SPEC §1 bounds tenantId at 64 characters; event ids are 32. Longer cannot exist, so it is a bad request.
MAX_ID_LENGTH = 64
# Stands in the path for an id sent in the query (`/v1/tenants/~/users?tenantId=..`): "." and "..", which
# every URL parser (browsers, curl, HTTP libraries) removes from a path, percent-encoded as %2E too,
# cannot travel as a segment. A tenant whose id is "~" is still `/v1/tenants/~` (no query parameter).
ID_IN_QUERY = "~"


def path_id(request: web.Request, name: str) -> str:
    """The id in the path parameter `name`, or in the query parameter of the same name when the path
    holds ID_IN_QUERY and the query names it. A query parameter that could name nothing is a 400
    whatever the path holds, as its description in runtime/openapi.json says."""
    value = request.match_info[name]
    if name in request.query:
        in_query = checked_text(name, request.query[name], MAX_ID_LENGTH)
        if value == ID_IN_QUERY:
            return in_query
    return checked_text(name, value, MAX_ID_LENGTH)


def query_text(request: web.Request, name: str, max_length: int) -> str:
    """The parameter, stripped; empty when absent."""
    return checked_text(name, request.query.get(name, "").strip(), max_length)


def checked_text(name: str, value: str, max_length: int) -> str:
    if len(value) > max_length:
        raise InvalidRequest(f"{name} is longer than {max_length} characters")
    # Postgres text cannot hold it, so nothing by that name exists (found by tests/ops/test_fuzz.py).
    if "\x00" in value:
        raise InvalidRequest(f"{name} contains a NUL character")
    return value


def query_limit(request: web.Request, default: int, maximum: int) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidRequest("limit must be an integer") from None
    if not 1 <= limit <= maximum:
        raise InvalidRequest(f"limit must be between 1 and {maximum}")
    return limit
