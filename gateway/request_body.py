"""Reading a request body without trusting it: bounded in size and time, then decoded as a JSON object."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import StreamReader, web

from gateway.errors import BodyTooLarge, InvalidRequest, SenderGone
from schemas import strict_json

# A 32 MiB full sync over a slow 10 Mbit/s link takes ~27 s; past this the sender is stalling.
BODY_READ_TIMEOUT_S = 60.0


# Called with each piece's size as it arrives, before it is kept (gateway.admission's `take`).
Arrived = Callable[[int], Awaitable[None]]


async def read_body(
    request: web.Request, limit_bytes: int, timeout_s: float = BODY_READ_TIMEOUT_S, arrived: Arrived | None = None
) -> bytes:
    """The raw body, or BodyTooLarge as soon as it is known to exceed `limit_bytes`.

    A declared Content-Length over the limit is refused before any byte is read; a chunked (or
    lying) body is read piece by piece and cut off at the limit, so memory stays bounded. Each piece
    is announced to `arrived` (which may make the read wait) as it comes, never the declared length.
    SenderGone if the connection closes before the body has arrived.
    """
    declared = request.content_length
    if declared is not None and declared > limit_bytes:
        raise BodyTooLarge(limit_bytes)
    content = request.content
    try:
        if content.is_eof():  # the whole body came with the headers (most calls): nothing to wait for
            raw = content.read_nowait()
            if arrived is not None:
                await arrived(len(raw))
        else:
            raw = await _read_within(content, limit_bytes, timeout_s, arrived)
    except TimeoutError:
        raise InvalidRequest("body", f"not received completely within {timeout_s:g} s") from None
    except web.RequestPayloadError:
        # A Content-Encoding that does not decode, a malformed chunk: the bytes sent are not a body.
        raise InvalidRequest("body", "could not be read (malformed transfer or content encoding)") from None
    except ConnectionError:  # aiohttp fails the read with ConnectionResetError when the connection is lost
        raise SenderGone from None
    if len(raw) > limit_bytes:  # decoded from a smaller compressed body
        raise BodyTooLarge(limit_bytes)
    if not raw:
        raise InvalidRequest("body", "empty")
    return raw


async def _read_within(content: StreamReader, limit_bytes: int, timeout_s: float, arrived: Arrived | None) -> bytes:
    received = bytearray()
    async with asyncio.timeout(timeout_s):
        while chunk := await content.readany():
            if len(received) + len(chunk) > limit_bytes:
                raise BodyTooLarge(limit_bytes)
            if arrived is not None:
                await arrived(len(chunk))
            received += chunk
    return bytes(received)


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; InvalidRequest naming `body` if it is not valid UTF-8 JSON holding one."""
    try:
        body = strict_json.loads_utf8(raw)
    except UnicodeDecodeError as exc:
        raise InvalidRequest("body", f"not valid UTF-8 (byte {exc.start})") from None
    except strict_json.NotJson as exc:
        raise InvalidRequest("body", f"not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InvalidRequest("body", "must be a JSON object")
    return body
