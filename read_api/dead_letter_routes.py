"""Dead letters over HTTP for the console (SPEC §8): list, show, retry, drop, retry many.

The work is done by workers/replay/dead_letters.py, the same functions `syncpipe dlq` runs: a retry
re-decodes the stored record with the code running now and applies it in its own transaction, so a
letter retried here or from the command line ends the same way. Payloads are shown redacted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from aiohttp import web

from read_api.exceptions import DatabaseUnavailable, InvalidRequest, NotFound
from read_api.handlers import json_answer
from read_api.params import MAX_ID_LENGTH, checked_text, query_limit, query_text
from read_api.queries import ACQUIRE_TIMEOUT_S, snapshot
from runtime.outages import is_retriable
from runtime.postgres import BIGINT_MAX
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
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/dead-letters", self.listing)
        app.router.add_post("/v1/dead-letters/retry", self.retry_many)
        app.router.add_get("/v1/dead-letters/{id}", self.show)
        app.router.add_post("/v1/dead-letters/{id}/retry", self.retry)
        app.router.add_post("/v1/dead-letters/{id}/drop", self.drop)

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
        async with self._writing() as connection:
            outcome = await retry_dead_letter(connection, letter_id, dry_run=False)
        if outcome.result == "not_found":
            raise NotFound(f"dead letter {letter_id} not found")
        return json_answer(outcome.to_json())

    async def retry_many(self, request: web.Request) -> web.Response:
        """Body `{"ids": [...]}`, or `{"all": true}` (optionally `"tenantId"`) for every waiting letter."""
        body = await _json_body(request)
        async with self._writing() as connection:
            if body.get("all") is True:
                tenant_id = body.get("tenantId")
                if tenant_id is not None and not isinstance(tenant_id, str):
                    raise InvalidRequest("tenantId must be a string")
                ids = await waiting_ids(connection, checked_text("tenantId", tenant_id or "", MAX_ID_LENGTH) or None)
            else:
                ids = _ids(body.get("ids"))
            chosen, remaining = ids[:MAX_RETRIES_PER_REQUEST], len(ids) - min(len(ids), MAX_RETRIES_PER_REQUEST)
            outcomes = [await retry_dead_letter(connection, letter_id, dry_run=False) for letter_id in chosen]
        return json_answer({"results": [outcome.to_json() for outcome in outcomes], "remaining": remaining})

    async def drop(self, request: web.Request) -> web.Response:
        letter_id = _letter_id(request)
        async with self._writing() as connection:
            [outcome] = await drop_dead_letters(connection, [letter_id], dry_run=False)
        if outcome.result == "not_found":
            raise NotFound(f"dead letter {letter_id} not found")
        return json_answer({"id": outcome.dead_letter_id, "result": outcome.result, "reason": outcome.reason})

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection outside any transaction (each retry makes its own); outages answer 503."""
        try:
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as connection:
                yield connection
        except Exception as error:
            if is_retriable(error):
                raise DatabaseUnavailable(f"{type(error).__name__}: {error}") from error
            raise


def _letter_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    # isdigit() alone lets "²" (int() fails) and "٣" (read as 3) through; 19 digits reach past bigint.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 19 or not _is_letter_id(int(raw)):
        raise InvalidRequest(f"a dead letter id is an integer from 1 to {BIGINT_MAX}")
    return int(raw)


def _ids(value: object) -> list[int]:
    if not isinstance(value, list) or not value:
        raise InvalidRequest('expected {"ids": [dead letter ids]} or {"all": true}')
    if not all(isinstance(item, int) and not isinstance(item, bool) and _is_letter_id(item) for item in value):
        raise InvalidRequest(f"ids must be integers from 1 to {BIGINT_MAX}")
    return list(dict.fromkeys(value))


def _is_letter_id(value: int) -> bool:
    """Whether `value` can name a dead letter: a positive bigint (past it asyncpg cannot send it: a 500)."""
    return 1 <= value <= BIGINT_MAX


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise InvalidRequest("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    return body
