"""The platform's token and userinfo answers, each turned into the refusal that names it, in bounded time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from signin.decision import PlatformCredentials
from signin.exceptions import SignInRefused
from signin.metrics import SignInMetrics
from signin.platform import MAX_ANSWER_BYTES, PlatformIdentity, logout_url
from signin.refusals import Refusal
from tests.read_api.free_port import free_port
from tests.signin.auth_centre import AuthCentre, form_answer, json_answer, serving

REDIRECT_URI = "https://signin.example.com/signin/callback/app-1"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


def platform(session: aiohttp.ClientSession, timeout_s: float = 5.0) -> PlatformIdentity:
    return PlatformIdentity(session, timeout_s, SignInMetrics(CollectorRegistry()))


def credentials(centre: AuthCentre) -> PlatformCredentials:
    return PlatformCredentials(centre.url, "client-1", "sealed")


async def test_a_code_is_exchanged_with_the_decrypted_secret_and_userinfo_read_with_the_token(
    session: aiohttp.ClientSession,
) -> None:
    async with serving(AuthCentre()) as centre:
        identity = platform(session)
        token = await identity.exchange_code(credentials(centre), "plain-secret", "code-1", REDIRECT_URI)
        who = await identity.user_info(centre.url, token)
    assert centre.token_forms == [
        {
            "grant_type": "authorization_code",
            "code": "code-1",
            "client_id": "client-1",
            "client_secret": "plain-secret",
            "redirect_uri": REDIRECT_URI,
        }
    ]
    assert centre.userinfo_headers == ["Bearer at-1"]
    assert (who.tenant_id, who.user_name) == ("t-1", "alice")


@pytest.mark.parametrize(
    ("answer", "refusal"),
    [
        (json_answer({"error": "invalid_grant", "error_description": "Invalid code"}, 400), Refusal.INVALID_GRANT),
        (
            json_answer({"error": "invalid_client", "error_description": "Bad client credentials"}, 400),
            Refusal.INVALID_CLIENT,
        ),
        (lambda: web.Response(status=401), Refusal.INVALID_CLIENT),
        (json_answer({"error": "invalid_grant"}), Refusal.INVALID_GRANT),  # an error in a 200 answer
        (json_answer({"error": "server_error"}, 500), Refusal.PLATFORM_ERROR),
        (lambda: web.Response(text="<html>maintenance</html>", status=503), Refusal.PLATFORM_ERROR),
        (json_answer({"token_type": "Bearer"}), Refusal.PLATFORM_ERROR),  # no access_token
        (json_answer({"access_token": "at-1", "token_type": "mac"}), Refusal.PLATFORM_ERROR),
        (json_answer({"access_token": "at-1", "padding": "x" * MAX_ANSWER_BYTES}), Refusal.PLATFORM_ERROR),
        (
            lambda: web.Response(status=302, headers={"Location": "http://127.0.0.1:1/elsewhere"}),
            Refusal.PLATFORM_ERROR,
        ),
    ],
)
async def test_each_token_answer_is_named(session: aiohttp.ClientSession, answer: object, refusal: Refusal) -> None:
    async with serving(AuthCentre(token=answer)) as centre:  # type: ignore[arg-type]
        with pytest.raises(SignInRefused) as refused:
            await platform(session).exchange_code(credentials(centre), "plain-secret", "code-1", REDIRECT_URI)
    assert refused.value.refusal is refusal
    assert "plain-secret" not in str(refused.value)
    assert "code-1" not in str(refused.value)


@pytest.mark.parametrize(
    ("answer", "refusal"),
    [
        # RFC 6749 §5.2 errors sent form-encoded: oauthlib reads them as it reads JSON, and names them.
        (form_answer("error=invalid_grant&error_description=Invalid+code", 400), Refusal.INVALID_GRANT),
        (form_answer("error=invalid_client&error_description=Bad+client+credentials", 400), Refusal.INVALID_CLIENT),
        # §5.1: `expires_in` is a number of seconds; a token answer with anything else is malformed.
        (
            json_answer({"access_token": "at-1", "token_type": "Bearer", "expires_in": "two hours"}),
            Refusal.PLATFORM_ERROR,
        ),
    ],
)
async def test_token_answers_are_read_by_oauthlib(
    session: aiohttp.ClientSession, answer: object, refusal: Refusal
) -> None:
    async with serving(AuthCentre(token=answer)) as centre:  # type: ignore[arg-type]
        with pytest.raises(SignInRefused) as refused:
            await platform(session).exchange_code(credentials(centre), "plain-secret", "code-1", REDIRECT_URI)
    assert refused.value.refusal is refusal
    assert "plain-secret" not in str(refused.value)


async def test_a_form_encoded_token_answer_is_read_by_oauthlib(session: aiohttp.ClientSession) -> None:
    answer = form_answer("access_token=at-2&token_type=bearer&expires_in=7200")
    async with serving(AuthCentre(token=answer)) as centre:
        token = await platform(session).exchange_code(credentials(centre), "plain-secret", "code-1", REDIRECT_URI)
    assert token == "at-2"


@pytest.mark.parametrize(
    "answer",
    [
        json_answer({"error": "invalid_token"}, 401),
        json_answer({"userName": "alice"}),  # no tenant: the callback's tenant could not be checked
        json_answer({"tenant": "t-1", "userName": ""}),
        json_answer(["not", "an", "object"]),
    ],
)
async def test_a_userinfo_answer_without_a_tenant_and_user_is_refused(
    session: aiohttp.ClientSession, answer: object
) -> None:
    async with serving(AuthCentre(userinfo=answer)) as centre:  # type: ignore[arg-type]
        with pytest.raises(SignInRefused) as refused:
            await platform(session).user_info(centre.url, "at-1")
    assert refused.value.refusal is Refusal.PLATFORM_ERROR


async def test_a_platform_that_is_down_is_refused_at_once(session: aiohttp.ClientSession) -> None:
    down = PlatformCredentials(f"http://127.0.0.1:{free_port()}", "client-1", "sealed")
    with pytest.raises(SignInRefused) as refused:
        await platform(session).exchange_code(down, "plain-secret", "code-1", REDIRECT_URI)
    assert refused.value.refusal is Refusal.PLATFORM_UNREACHABLE


async def test_a_platform_that_answers_too_slowly_is_given_up_on_after_the_timeout(
    session: aiohttp.ClientSession,
) -> None:
    async def slow_answer(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/realm/api/v1/oauth2/userinfo", slow_answer)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/realm"
        started = time.monotonic()
        with pytest.raises(SignInRefused) as refused:
            await platform(session, timeout_s=0.5).user_info(url, "at-1")
        assert time.monotonic() - started < 3
    finally:
        await runner.cleanup()
    assert refused.value.refusal is Refusal.PLATFORM_UNREACHABLE


def test_the_logout_url_carries_redirect_url() -> None:
    assert (
        logout_url("https://ent1.example.com", "https://app.example.com/bye?x=1")
        == "https://ent1.example.com/api/v1/logout?redirect_url=https%3A%2F%2Fapp.example.com%2Fbye%3Fx%3D1"
    )
