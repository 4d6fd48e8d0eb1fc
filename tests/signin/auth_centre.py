"""A tenant's auth centre that answers what a test tells it to, recording what it was asked."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

Answer = Callable[[], web.StreamResponse]


def json_answer(body: Any, status: int = 200) -> Answer:
    return lambda: web.json_response(body, status=status)


def form_answer(body: str, status: int = 200) -> Answer:
    """A form-encoded answer, as some OAuth2 servers still send (RFC 6749 asks for JSON)."""
    return lambda: web.Response(text=body, status=status, content_type="application/x-www-form-urlencoded")


@dataclass
class AuthCentre:
    token: Answer = field(default_factory=lambda: json_answer({"access_token": "at-1", "token_type": "Bearer"}))
    userinfo: Answer = field(default_factory=lambda: json_answer({"tenant": "t-1", "userName": "alice"}))
    url: str = ""
    token_forms: list[dict[str, str]] = field(default_factory=list)
    userinfo_headers: list[str] = field(default_factory=list)

    async def _token(self, request: web.Request) -> web.StreamResponse:
        self.token_forms.append({name: str(value) for name, value in (await request.post()).items()})
        return self.token()

    async def _userinfo(self, request: web.Request) -> web.StreamResponse:
        self.userinfo_headers.append(request.headers.get("Authorization", ""))
        return self.userinfo()


@contextlib.asynccontextmanager
async def serving(centre: AuthCentre) -> AsyncIterator[AuthCentre]:
    app = web.Application()
    app.router.add_post("/realm/api/v1/oauth2/token", centre._token)
    app.router.add_get("/realm/api/v1/oauth2/userinfo", centre._userinfo)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        centre.url = f"http://127.0.0.1:{runner.addresses[0][1]}/realm"
        yield centre
    finally:
        await runner.cleanup()
