"""The merchant's application in `syncpipe up`: where a sign-in lands when SYNCPIPE_SIGNIN_APP_URL is unset.

It does what a real application does with the assertion (docs/sign-in.md): fetch the sign-in
service's JWKS, verify the signature, issuer, audience and expiry with a JOSE library (joserfc), refuse
an assertion it has already taken (`jti`), then show who signed in and a "Sign out" link.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from html import escape
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

# The sign-in service's JWKS answer is small and local; a slow one is an error to show, not to wait for.
_JWKS_TIMEOUT = aiohttp.ClientTimeout(total=5)


class DemoApplication:
    def __init__(self, url: str, signin_url: str) -> None:
        self.url = url.rstrip("/")
        self._signin_url = signin_url.rstrip("/")
        self._taken: dict[str, int] = {}  # jti -> exp: assertions already used

    @property
    def landing_url(self) -> str:
        return f"{self.url}/"

    @property
    def signed_out_url(self) -> str:
        return f"{self.url}/signed-out"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._landing)
        app.router.add_get("/signed-out", self._signed_out)
        return app

    async def _landing(self, request: web.Request) -> web.Response:
        assertion = request.query.get("assertion")
        if not assertion:
            return _page("Demo application", "<p>Sign in from a sign-in URL that `syncpipe up --demo` prints.</p>")
        try:
            claims = await self._verified(assertion)
        except (JoseError, ValueError, aiohttp.ClientError, TimeoutError) as exc:
            return _page("Not signed in", f"<p>The assertion was refused: {escape(type(exc).__name__)}.</p>", 401)
        sign_out = f"{self._signin_url}/signin/logout?tenant={quote(str(claims['tenantId']), safe='')}"
        rows = "".join(
            f"<tr><th>{escape(name)}</th><td>{escape(str(claims.get(name, '')))}</td></tr>"
            for name in ("tenantId", "userName", "name", "role", "orgCode", "app")
        )
        body = (
            f"<p>Signed in as <strong>{escape(str(claims['name']))}</strong>. The assertion verified with the "
            f"sign-in service's JWKS and expires in {int(claims['exp']) - int(time.time())} s.</p>"
            f'<table>{rows}</table><p><a href="{escape(sign_out)}">Sign out</a></p>'
        )
        return _page("Signed in", body)

    async def _verified(self, assertion: str) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession(timeout=_JWKS_TIMEOUT) as session,
            session.get(f"{self._signin_url}/signin/jwks.json") as answer,
        ):
            answer.raise_for_status()
            keys = KeySet.import_key_set(await answer.json())
        token = jwt.decode(assertion, keys, algorithms=["ES256", "RS256"])
        registry = JWTClaimsRegistry(
            iss={"essential": True, "value": self._signin_url},
            aud={"essential": True, "value": self.landing_url},
            exp={"essential": True},
            jti={"essential": True},
        )
        registry.validate(token.claims)
        now = int(time.time())
        self._taken = {jti: exp for jti, exp in self._taken.items() if exp > now}
        if token.claims["jti"] in self._taken:
            raise ValueError("assertion already taken")
        self._taken[token.claims["jti"]] = int(token.claims["exp"])
        return dict(token.claims)

    async def _signed_out(self, request: web.Request) -> web.Response:
        return _page("Signed out", "<p>You are signed out of the platform and of this application.</p>")


def _page(title: str, body: str, status: int = 200) -> web.Response:
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=page, status=status, content_type="text/html", headers={"Referrer-Policy": "no-referrer"})


@contextlib.asynccontextmanager
async def serving_demo_application(application: DemoApplication, host: str, port: int) -> AsyncIterator[None]:
    runner = web.AppRunner(application.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        yield
    finally:
        await runner.cleanup()
