"""What a user would write instead of syncpipe's gateway: one FastAPI endpoint under uvicorn.

    python -m benchmarks.fastapi_endpoint --port P

Written the way FastAPI's documentation leads a user to (installed as `fastapi[standard]`, so
uvicorn runs on uvloop and httptools, with its access log on): read the raw body, check the
signature of SPEC.md §2 (the contract's canonical form from `schemas.canonical`, HMAC-SHA256 over
every configured key, the 60 s window, nonces seen in it refused), validate the call with the
contract's pydantic models, produce it with aiokafka's `send_and_wait` (acks=all, one call at a time
per request, client defaults otherwise) and answer. Configured from the same environment as the
gateway (SYNCPIPE_ACCESS_KEYS, KAFKA_BOOTSTRAP_SERVERS, SYNCPIPE_EVENTS_TOPIC); its topic must exist.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from pydantic import ValidationError

from schemas.calls import CALL_MODELS, Interface
from schemas.canonical import canonical_json, sign

# SPEC.md §2: a timestamp further than this from now is refused, and a nonce is remembered this long.
SIGNATURE_WINDOW_S = 60.0
# SPEC.md §3: past this the call was not stored and is answered 000005.
PRODUCE_TIMEOUT_S = 5.0
# Expired nonces are swept out every this many calls.
_SWEEP_EVERY = 10_000


def _answer(code: str, message: str, **extra: str) -> dict[str, str]:
    return {"resultCode": code, "resultMsg": message, **extra}


class NonceWindow:
    """Nonces seen within the signature window, each forgotten once its timestamp leaves it."""

    def __init__(self) -> None:
        self._expiry: dict[str, float] = {}
        self._calls = 0

    def first_time(self, nonce: str, now: float) -> bool:
        self._calls += 1
        if self._calls % _SWEEP_EVERY == 0:
            self._expiry = {seen: until for seen, until in self._expiry.items() if until > now}
        if self._expiry.get(nonce, 0.0) > now:
            return False
        self._expiry[nonce] = now + 2 * SIGNATURE_WINDOW_S
        return True


def signature_error(
    headers: Any, body: dict[str, Any], access_keys: list[str], nonces: NonceWindow, now: float | None = None
) -> str | None:
    """Why the call's signature is refused (at `now`, Unix seconds; the clock's time by default), or None."""
    signature, timestamp, nonce = headers.get("x-sign"), headers.get("x-timestamp"), headers.get("x-nonce")
    if not signature or not timestamp or not nonce:
        return "signature headers missing"
    now = time.time() if now is None else now
    if not timestamp.isdigit() or abs(int(timestamp) / 1000 - now) > SIGNATURE_WINDOW_S:
        return "timestamp outside the window"
    canonical = canonical_json(body)
    signed = [hmac.compare_digest(sign(key, nonce, timestamp, canonical), signature.lower()) for key in access_keys]
    if not any(signed):
        return "wrong signature"
    if not nonces.first_time(nonce, now):
        return "nonce replayed"
    return None


def build_app(bootstrap_servers: str, topic: str, access_keys: list[str]) -> FastAPI:
    nonces = NonceWindow()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
        await app.state.producer.start()
        try:
            yield
        finally:
            await app.state.producer.stop()

    app = FastAPI(lifespan=lifespan)

    @app.post("/produceAPI/v2/{interface}")
    async def produce(interface: str, request: Request) -> dict[str, str]:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _answer("000002", "body is not JSON")
        if not isinstance(body, dict):
            return _answer("000002", "body must be a JSON object")
        if refused := signature_error(request.headers, body, access_keys, nonces):
            return _answer("000001", refused)
        try:
            call = CALL_MODELS[Interface(interface)].model_validate(body)
        except ValueError as error:  # an unknown interface, or pydantic's ValidationError
            field = error.errors()[0]["loc"] if isinstance(error, ValidationError) else "interface"
            return _answer("000002", f"invalid call: {field}")
        event_id = uuid.uuid4().hex
        event = {"eventId": event_id, "interface": interface, "call": call.model_dump(mode="json")}
        try:
            async with asyncio.timeout(PRODUCE_TIMEOUT_S):
                await request.app.state.producer.send_and_wait(
                    topic, json.dumps(event, ensure_ascii=False).encode(), key=call.tenantId.encode()
                )
        except (KafkaError, TimeoutError):
            return _answer("000005", "not stored, try again")
        return _answer("000000", "accepted", eventId=event_id)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    access_keys = [key.strip() for key in os.environ["SYNCPIPE_ACCESS_KEYS"].split(",") if key.strip()]
    app = build_app(os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["SYNCPIPE_EVENTS_TOPIC"], access_keys)
    uvicorn.run(app, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
