"""Bearer-token authentication of the read API (SPEC §7): every route but the operations ones."""

from __future__ import annotations

import hmac

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from read_api.exceptions import ApiNotConfigured

# Probes and scrapes come from orchestrators and Prometheus, which hold no token; the API's
# description is public.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})
# The operator console's page and scripts (read_api/console) hold no data: they fetch it from /v1 with the token.
OPEN_PREFIXES = ("/console",)

_CHALLENGE = {hdrs.WWW_AUTHENTICATE: 'Bearer realm="syncpipe"'}


def check_api_token(token: str) -> str:
    """`token` if it can serve as the bearer token; ApiNotConfigured if empty or holding whitespace
    (a header could never present it)."""
    if not token:
        raise ApiNotConfigured("the read API refuses to start without a bearer token: set SYNCPIPE_API_TOKEN")
    if any(character.isspace() for character in token):
        raise ApiNotConfigured("the read API's bearer token (SYNCPIPE_API_TOKEN) must not contain whitespace")
    return token


def require_bearer_token(token: str) -> Middleware:
    """A middleware answering 401 JSON unless `Authorization: Bearer <token>` is presented.

    Raises ApiNotConfigured if `token` cannot serve (see `check_api_token`).
    """
    expected = check_api_token(token).encode()

    @web.middleware
    async def bearer_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or _under_open_prefix(request.path):
            return await handler(request)
        header = request.headers.get(hdrs.AUTHORIZATION)
        if header is None:
            return _unauthorized("missing bearer token")
        presented = _bearer_credentials(header)
        if presented is None:
            return _unauthorized("malformed Authorization header: expected 'Bearer <token>'")
        # surrogateescape: aiohttp decodes header bytes that are not UTF-8 this way; encode them back as they came.
        if not hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), expected):
            return _unauthorized("invalid bearer token")
        return await handler(request)

    return bearer_token


def _under_open_prefix(path: str) -> bool:
    return any(path == prefix or path.startswith(f"{prefix}/") for prefix in OPEN_PREFIXES)


def _bearer_credentials(header: str) -> str | None:
    """The credentials of a `Bearer` header (scheme case-insensitive, RFC 7235); None if not one."""
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() != "bearer" or not credentials or any(character.isspace() for character in credentials):
        return None
    return credentials


def _unauthorized(message: str) -> web.Response:
    return web.json_response({"error": message}, status=401, headers=_CHALLENGE)
