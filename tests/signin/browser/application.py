"""The merchant's application, as small as it gets: it takes the assertion, verifies it with the JWKS
using PyJWT (another JOSE library than the one that signs), and says who signed in."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt
from aiohttp import web

from tests.read_api.free_port import free_port


@dataclass
class TestApplication:
    url: str
    signin_url: str
    received: list[str] = field(default_factory=list)  # every assertion presented, verified or not
    verified: list[dict[str, Any]] = field(default_factory=list)

    @property
    def landing_url(self) -> str:
        return f"{self.url}/landing"

    async def landing(self, request: web.Request) -> web.Response:
        assertion = request.query.get("assertion", "")
        self.received.append(assertion)
        async with aiohttp.ClientSession() as session, session.get(f"{self.signin_url}/signin/jwks.json") as answer:
            jwks = await answer.json()
        try:
            key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(assertion)["kid"]]
            claims = jwt.decode(
                assertion, key.key, algorithms=["ES256", "RS256"], audience=self.landing_url, issuer=self.signin_url
            )
        except (jwt.PyJWTError, KeyError) as exc:
            return web.Response(text=f"assertion refused: {type(exc).__name__}", status=400)
        self.verified.append(claims)
        sign_out = f"{self.signin_url}/signin/logout?tenant={quote(claims['tenantId'], safe='')}"
        page = (
            f"<!doctype html><title>Test application</title><h1>Signed in</h1>"
            f'<p id="who">{escape(claims["name"])} ({escape(claims["userName"])}) of {escape(claims["tenantId"])}</p>'
            f'<a href="{escape(sign_out)}">Sign out</a>'
        )
        return web.Response(text=page, content_type="text/html")

    async def signed_out(self, request: web.Request) -> web.Response:
        return web.Response(
            text="<!doctype html><title>Test application</title><h1>Signed out</h1>", content_type="text/html"
        )


@contextlib.asynccontextmanager
async def serving_application(signin_url: str) -> AsyncIterator[TestApplication]:
    port = free_port()
    application = TestApplication(f"http://127.0.0.1:{port}", signin_url)
    app = web.Application()
    app.router.add_get("/landing", application.landing)
    app.router.add_get("/signed-out", application.signed_out)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        yield application
    finally:
        await runner.cleanup()
