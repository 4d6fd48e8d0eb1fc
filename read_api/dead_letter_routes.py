"""Dead letters over HTTP for the console (SPEC §8): list, show, retry, drop, retry many.

The work is done by workers/replay/dead_letters.py, the same functions `syncpipe dlq` runs: a retry
re-decodes the stored record with the code running now and applies it in its own transaction, so a
letter retried here or from the command line ends the same way. Payloads are shown redacted.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from read_api.exceptions import InvalidRequest, NotFound
from read_api.handlers import json_answer
from read_api.params import MAX_ID_LENGTH, checked_text, query_limit, query_text
from read_api.queries import snapshot, writing
from runtime.postgres import BIGINT_MAX
from schemas import strict_json
from workers.replay.dead_letters import (
    STATES,
    drop_dead_letters,
    list_dead_letters,
    retry_dead_letter,
    show_dead_letter,
    waiting_ids,
)

DEFAULT_LIMIT = 100
MAX_LIMIT = 500
# Retries run one after the other, each a transaction of its own: a few hundred keep one request
# well inside a browser's patience; the answer says how many are left for the next click.
MAX_RETRIES_PER_REQUEST = 200


class DeadLetterHandlers:
    def __init__(self, pool: asyncpg.Pool, *, ready_url_template: str | None = None) -> None:
        """`ready_url_template`: SYNCPIPE_INSTANCE_READY_URL_TEMPLATE, for a newInstance retried."""
        self._pool = pool
        self._ready_url_template = ready_url_template

    def add_routes(self, app: web.Application) -> None:
        # Ids are ASCII digits: otherwise GET /v1/dead-letters/retry would read the letter "retry" (a 400)
        # and the POST-only path would advertise GET in its 405's Allow header.
        app.router.add_get("/v1/dead-letters", self.listing)
        app.router.add_post("/v1/dead-letters/retry", self.retry_many)
        app.router.add_get("/v1/dead-letters/{id:[0-9]+}", self.show)
        app.router.add_post("/v1/dead-letters/{id:[0-9]+}/retry", self.retry)
        app.router.add_post("/v1/dead-letters/{id:[0-9]+}/drop", self.drop)

    async def listing(self, request: web.Request) -> web.Response:
        """`?state=dead` (default; or retried, dropped, all), `?tenantId=`, `?limit=` (newest first)."""
        state = request.query.get("state", "dead")
        if state != "all" and state not in STATES:
            raise InvalidRequest(f"state must be one of {', '.join((*STATES, 'all'))}")
        tenant_id = query_text(request, "tenantId", MAX_ID_LENGTH) or None
        limit = query_limit(request, DEFAULT_LIMIT, MAX_LIMIT)
        async with snapshot(self._pool) as connection:
            letters, total = await list_dead_letters(
                connection, states=STATES if state == "all" else (state,), tenant_id=tenant_id, limit=limit
            )
        return json_answer({"deadLetters": [letter.to_json() for letter in reversed(letters)], "total": total})

    async def show(self, request: web.Request) -> web.Response:
        letter_id = _letter_id(request)
        async with snapshot(self._pool) as connection:
            detail = await show_dead_letter(connection, letter_id)
        if detail is None:
            raise NotFound(f"dead letter {letter_id} not found")
        return json_answer(detail.to_json())

    async def retry(self, request: web.Request) -> web.Response:
        """Answers the outcome (`result`: applied, stale, test, duplicate, dead_lettered again, skipped ...)."""
        letter_id = _letter_id(request)
        async with writing(self._pool) as connection:
            outcome = await retry_dead_letter(
                connection, letter_id, dry_run=False, ready_url_template=self._ready_url_template
            )
        if outcome.result == "not_found":
            raise NotFound(f"dead letter {letter_id} not found")
        return json_answer(outcome.to_json())

    async def retry_many(self, request: web.Request) -> web.Response:
        """Body `{"ids": [...]}`, or `{"all": true}` (optionally `"tenantId"`) for every waiting letter."""
        body = await _json_body(request)
        async with writing(self._pool) as connection:
            if body.get("all") is True:
                tenant_id = body.get("tenantId")
                if tenant_id is not None and not isinstance(tenant_id, str):
                    raise InvalidRequest("tenantId must be a string")
                ids = await waiting_ids(connection, checked_text("tenantId", tenant_id or "", MAX_ID_LENGTH) or None)
            else:
                ids = _ids(body.get("ids"))
            chosen, remaining = ids[:MAX_RETRIES_PER_REQUEST], len(ids) - min(len(ids), MAX_RETRIES_PER_REQUEST)
            outcomes = [
                await retry_dead_letter(
                    connection, letter_id, dry_run=False, ready_url_template=self._ready_url_template
                )
                for letter_id in chosen
            ]
        return json_answer({"results": [outcome.to_json() for outcome in outcomes], "remaining": remaining})

    async def drop(self, request: web.Request) -> web.Response:
        letter_id = _letter_id(request)
        async with writing(self._pool) as connection:
            [outcome] = await drop_dead_letters(connection, [letter_id], dry_run=False)
        if outcome.result == "not_found":
            raise NotFound(f"dead letter {letter_id} not found")
        return json_answer(outcome.to_json())  # as each of `syncpipe dlq drop --json`'s results


def _letter_id(request: web.Request) -> int:
    """The route's id: ASCII digits (its pattern), from 1 to the largest bigint (dead_letters.dead_letter_id)."""
    raw = request.match_info["id"]
    # isdigit() alone lets "²" (int() fails) and "٣" (read as 3) through; 19 digits reach past bigint.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not _is_letter_id(int(raw)):
        raise InvalidRequest(f"a dead letter id is an integer from 1 to {BIGINT_MAX}")
    return int(raw)


def _ids(value: object) -> list[int]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest('expected {"ids": [dead letter ids]} or {"all": true}')
    ids = [_integer(item) for item in value]
    # Past a bigint no letter can exist, and asyncpg refuses to even send it.
    if not all(item is not None and _is_letter_id(item) for item in ids):
        raise InvalidRequest(f"ids must be integers from 1 to {BIGINT_MAX}")
    return list(dict.fromkeys(item for item in ids if item is not None))


def _integer(value: object) -> int | None:
    """`value` if a JSON integer: 12 or 12.0, which JSON Schema (and so the OpenAPI description) reads as 12."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _is_letter_id(value: int) -> bool:
    """Whether `value` can name a dead letter: a positive bigint (past it asyncpg cannot send it: a 500)."""
    return 1 <= value <= BIGINT_MAX


async def _json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object, decoded as the gateway decodes a call: UTF-8 whatever the declared
    charset (an unknown one was a 500), nesting bounded (100,000 `[` were a 500)."""
    try:
        body = strict_json.loads((await request.read()).decode("utf-8"))
    except (UnicodeDecodeError, strict_json.NotJson):
        raise InvalidRequest("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    return body
