"""A stand-in for the whole pipeline, on one aiohttp server: a gateway that checks signatures the way
SPEC §2 says and applies what it accepts through the reference model, and a read API serving it.

Knobs let a test make it misbehave: refuse an interface, answer 503 a few times, take a few polls
to settle (or never), serve a corrupted tenant, fail a read. With `ack_url` set it also acknowledges
each accepted call there (SPEC §6), signed, before answering it; knobs leave some out or sign wrong.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from schemas.calls import AnyCall, ApplicationSync, Interface, parse_call
from schemas.canonical import canonical_json, matching_key, signed_headers
from schemas.event_id import event_id
from schemas.exceptions import InvalidCall
from syncpipe.simulation.model import expected_state
from syncpipe.simulation.snapshot import TenantSnapshot

API_TOKEN = "test-token"
SIGNATURE_WINDOW_MS = 60_000


@dataclass
class FakePipeline:
    access_key: str
    refuse: dict[Interface, str] = field(default_factory=dict)  # interface -> resultCode
    unavailable_answers: int = 0  # the first n POSTs get 503 / 000005
    polls_to_settle: int = 1  # polls of an event that answer before it is final (404, then accepted)
    final_status: str = "applied"
    served: Callable[[str, TenantSnapshot], TenantSnapshot] = lambda tenant_id, snapshot: snapshot
    failing_tenant: str | None = None  # its record answers 500
    private_key: rsa.RSAPrivateKey | None = None  # when set, client secrets must decrypt with it
    ack_url: str | None = None  # when set, every accepted call is acknowledged there
    acks_left_out: int = 0  # the first n accepted events are never acknowledged
    ack_key: str | None = None  # signs the acks; default access_key
    ack_status: str | None = None  # every ack claims this status; default the event's own
    session: aiohttp.ClientSession | None = None  # set by `serving`
    # What the fake saw.
    posts: int = 0
    bad_signatures: int = 0
    accepted: dict[str, AnyCall] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    nonces: set[str] = field(default_factory=set)
    raw_bodies: list[bytes] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/produceAPI/v2/{interface}", self._produce)
        app.router.add_get("/v1/events/{event_id}", self._event)
        app.router.add_get("/v1/tenants/{tenant_id}", self._tenant)
        app.router.add_get("/v1/tenants/{tenant_id}/{section}", self._section)
        return app

    async def _produce(self, request: web.Request) -> web.Response:
        self.posts += 1
        if self.posts <= self.unavailable_answers:
            return _answer("000005", status=503)
        raw = await request.read()
        self.raw_bodies.append(raw)
        body = json.loads(raw)
        if not self._signature_ok(request, body):
            self.bad_signatures += 1
            return _answer("000001")
        try:
            call = parse_call(request.match_info["interface"], body)
        except InvalidCall as exc:
            return _answer("000002", str(exc))
        if call.interface in self.refuse:
            return _answer(self.refuse[call.interface])
        if isinstance(call, ApplicationSync) and not self._secret_opens(call):
            return _answer("000101")
        identity = event_id(call)
        first_time = identity not in self.accepted
        self.accepted[identity] = call
        if self.ack_url is not None:
            await self._acknowledge(self.ack_url, identity, call, self.final_status if first_time else "duplicate")
        return _answer("000000", event_id=identity)

    async def _acknowledge(self, url: str, identity: str, call: AnyCall, status: str) -> None:
        if self.acks_left_out:
            self.acks_left_out -= 1
            return
        assert self.session is not None
        status = self.ack_status or status
        ack = {"eventId": identity, "interface": call.interface.value, "tenantId": call.tenantId, "status": status}
        headers = signed_headers(self.ack_key or self.access_key, uuid.uuid4().hex, time.time_ns() // 1_000_000, ack)
        async with self.session.post(url, data=json.dumps(ack), headers=headers) as answer:
            await answer.read()

    def _signature_ok(self, request: web.Request, body: dict[str, Any]) -> bool:
        nonce, stamp = request.headers.get("x-nonce", ""), request.headers.get("x-timestamp", "0")
        fresh = abs(int(stamp) - time.time_ns() // 1_000_000) <= SIGNATURE_WINDOW_MS and nonce not in self.nonces
        self.nonces.add(nonce)
        found = matching_key([self.access_key], nonce, stamp, canonical_json(body), request.headers.get("x-sign", ""))
        return fresh and found == 0

    def _secret_opens(self, call: ApplicationSync) -> bool:
        if self.private_key is None or call.flag == 0:
            return True
        oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        try:
            self.private_key.decrypt(base64.b64decode(call.clientSecret), oaep)
        except ValueError:
            return False
        return True

    async def _event(self, request: web.Request) -> web.Response:
        self._authorised(request)
        identity = request.match_info["event_id"]
        if identity not in self.accepted:
            raise web.HTTPNotFound
        seen = self.polls[identity] = self.polls.get(identity, 0) + 1
        if seen <= self.polls_to_settle:
            if seen == 1:
                raise web.HTTPNotFound
            return web.json_response({"eventId": identity, "status": "accepted"})
        return web.json_response({"eventId": identity, "status": self.final_status})

    async def _tenant(self, request: web.Request) -> web.Response:
        tenant_id = request.match_info["tenant_id"]
        snapshot = self._snapshot(request)
        if tenant_id == self.failing_tenant:
            raise web.HTTPInternalServerError
        if snapshot is None or snapshot.tenant is None:
            raise web.HTTPNotFound
        return web.json_response(snapshot.tenant)

    async def _section(self, request: web.Request) -> web.Response:
        section = request.match_info["section"]
        snapshot = self._snapshot(request)
        if snapshot is None or section not in ("departments", "users", "applications"):
            raise web.HTTPNotFound
        return web.json_response({section: getattr(snapshot, section)})

    def _snapshot(self, request: web.Request) -> TenantSnapshot | None:
        self._authorised(request)
        tenant_id = request.match_info["tenant_id"]
        snapshot = expected_state(self.accepted.values()).get(tenant_id)
        return None if snapshot is None else self.served(tenant_id, snapshot)

    @staticmethod
    def _authorised(request: web.Request) -> None:
        if request.headers.get("Authorization") != f"Bearer {API_TOKEN}":
            raise web.HTTPUnauthorized


def _answer(code: str, message: str = "", *, status: int = 200, event_id: str | None = None) -> web.Response:
    body = {"resultCode": code, "resultMsg": message or code}
    if event_id is not None:
        body["eventId"] = event_id
    return web.json_response(body, status=status)


@asynccontextmanager
async def serving(pipeline: FakePipeline) -> AsyncIterator[str]:
    """Serve `pipeline` on a free local port; yields its base URL."""
    server = TestServer(pipeline.app())
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as pipeline.session:
            yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
