"""What every syncpipe HTTP server answers before a route does: malformed HTTP, and its own identity.

aiohttp answers a request it cannot parse (a bad request line or header, one too long, a broken
chunk) with plain text that quotes the offending bytes, and logs it at ERROR with a traceback. Here
such a refusal is answered by the application's own `Refusal` (JSON: the gateway's SPEC §3 shape, the
other servers' `{"error": …}`), naming what was wrong but quoting nothing the sender wrote, and logged
as a WARNING without a traceback: it is the sender's mistake, not ours. An exception escaping a
handler (a bug: our handlers answer their own errors) is still an ERROR with its traceback.

No answer names the server's software or version (`Server: syncpipe`, not `Python/3.11 aiohttp/3.x`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from aiohttp import hdrs, http_exceptions, web
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

# What a syncpipe server calls itself (aiohttp would announce its own and Python's versions).
SERVER_NAME = "syncpipe"

Refusal = Callable[[int, str], web.Response]
"""The answer to a request refused before any route: its HTTP status and what was wrong (never quoting it)."""


def error_json(status: int, reason: str) -> web.Response:
    """The read API's and the ops ports' refusal: `{"error": reason}`."""
    return web.json_response({"error": reason}, status=status)


REFUSAL: web.AppKey[Refusal] = web.AppKey("syncpipe_refusal", Refusal)  # type: ignore[arg-type]

# Why a request could not be parsed, said in our words: aiohttp's messages quote the bytes.
_PARSE_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (http_exceptions.LineTooLong, "a request line or header is too long"),
    (http_exceptions.InvalidHeader, "a malformed header"),
    (http_exceptions.BadHttpMethod, "not an HTTP request"),
    (http_exceptions.BadStatusLine, "a malformed request line"),
    (http_exceptions.InvalidURLError, "a malformed request target"),
    (http_exceptions.TransferEncodingError, "a malformed chunked body"),
    (http_exceptions.ContentEncodingError, "a body whose Content-Encoding does not decode"),
    (http_exceptions.ContentLengthError, "a body shorter than its Content-Length"),
)
_MALFORMED = "malformed HTTP"
# The parser's own phrase for the rest ("Invalid header value char", "Duplicate Content-Length"): the
# first line of its message, up to the colon that introduces the quoted bytes, if it quotes nothing.
_PARSER_PHRASE = re.compile(r"[A-Za-z][A-Za-z` -]{0,59}")


def parse_error_reason(exc: BaseException | None) -> str:
    """What was wrong with a request aiohttp could not parse, without a byte of it."""
    for kind, reason in _PARSE_ERRORS:
        if isinstance(exc, kind):
            return f"{_MALFORMED}: {reason}"
    if isinstance(exc, http_exceptions.HttpProcessingError):
        phrase = exc.message.split("\n", 1)[0].split(":", 1)[0]
        if _PARSER_PHRASE.fullmatch(phrase):
            return f"{_MALFORMED}: {phrase[0].lower()}{phrase[1:]}"
    return f"{_MALFORMED} request"


class _RefusingRequestHandler(RequestHandler):
    """aiohttp's connection handler, but refusals answered by `refusal` and logged as above."""

    def __init__(self, manager: web.Server, refusal: Refusal, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._refusal = refusal

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500:
            log.error("%s %s failed", request.method, request.path, exc_info=exc)
            reason = "internal error"
        else:
            reason = parse_error_reason(exc)
            log.warning("refused a request from %s: %s", request.remote, reason)
        if request.writer.output_size > 0:  # an answer was begun: the connection cannot carry another
            raise ConnectionError("an answer was already being sent; the connection is closed")
        response = self._refusal(status, reason)
        response.headers[hdrs.SERVER] = SERVER_NAME
        response.force_close()
        return response


class _RefusingServer(web.Server):
    refusal: Refusal

    def __call__(self) -> RequestHandler:
        return _RefusingRequestHandler(self, self.refusal, loop=self._loop, **self._kwargs)


class HardenedAppRunner(web.AppRunner):
    """An AppRunner whose server refuses as this module says, with the app's `REFUSAL` (`error_json`
    if it has none), and names itself SERVER_NAME in every answer."""

    async def _make_server(self) -> web.Server:
        self.app.on_response_prepare.append(_name_the_server)
        server = await super()._make_server()
        # aiohttp builds the Server (Application._make_handler); only the class of its connection
        # handlers is ours to change, and a subclass adding no state can take over the object.
        server.__class__ = _RefusingServer
        server.refusal = self.app.get(REFUSAL, error_json)  # type: ignore[attr-defined]
        return server


async def _name_the_server(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[hdrs.SERVER] = SERVER_NAME
