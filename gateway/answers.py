"""What the gateway answers: the JSON of SPEC §3 (and §9), and the one table from resultCode to HTTP status."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.errors import ResultCode

# The one place a resultCode becomes an HTTP status (SPEC §3): 503 says "not stored, try again".
HTTP_STATUS: dict[ResultCode, int] = {
    ResultCode.ACCEPTED: 200,
    ResultCode.SIGNATURE_REJECTED: 200,
    ResultCode.INVALID_REQUEST: 200,
    ResultCode.NO_SUCH_INSTANCE: 200,
    ResultCode.BEING_PROVISIONED: 200,
    ResultCode.NOT_STORED: 503,
    ResultCode.CLIENT_SECRET_UNDECRYPTABLE: 200,
}


def answer(code: ResultCode, message: str, event_id: str | None = None, **fields: Any) -> web.Response:
    """`{"resultCode", "resultMsg"}`, `eventId` when given, then `fields` (an instance call's answers)."""
    body: dict[str, Any] = {"resultCode": code.value, "resultMsg": message}
    if event_id is not None:
        body["eventId"] = event_id
    body.update(fields)
    return web.json_response(body, status=HTTP_STATUS[code])


def refuse_malformed(status: int, reason: str) -> web.Response:
    """The answer to a request refused before its route (runtime.http_server): the SPEC §3 shape, 000002
    with the refusal's HTTP status (400: malformed HTTP), or 000005 / 503 where an error was ours."""
    if status >= 500:
        return answer(ResultCode.NOT_STORED, "internal error: nothing was stored; try again")
    body = {"resultCode": ResultCode.INVALID_REQUEST.value, "resultMsg": f"request: {reason}"}
    return web.json_response(body, status=status)
