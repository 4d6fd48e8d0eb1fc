"""The platform's identity service as a sign-in uses it (SPEC §10 steps 3-5), over aiohttp.

Each call is bounded in time (a person waits in a browser), follows no redirect, keeps no cookie
(one session serves every tenant) and reads at most MAX_ANSWER_BYTES. Failures become
SignInRefused with the refusal that names them; no code, token or secret is put in an error.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from signin.decision import PlatformCredentials
from signin.exceptions import SignInRefused
from signin.metrics import SignInMetrics
from signin.refusals import Refusal

TOKEN_PATH = "/api/v1/oauth2/token"
USERINFO_PATH = "/api/v1/oauth2/userinfo"
LOGOUT_PATH = "/api/v1/logout"
# The platform's answers are small JSON objects; anything larger is not one of them.
MAX_ANSWER_BYTES = 64 * 1024
# An OAuth2 error code is a short token (RFC 6749 §5.2); only such text from the platform reaches a log.
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True, slots=True)
class PlatformUser:
    """Who the platform says signed in: `tenant` and `userName` are the synced tenantId and userName."""

    tenant_id: str
    user_name: str


def logout_url(base_url: str, redirect_url: str) -> str:
    """The tenant's logout page, sending the browser to `redirect_url` afterwards (`redirect_url`, not `_uri`)."""
    return f"{base_url}{LOGOUT_PATH}?{urlencode({'redirect_url': redirect_url})}"


class PlatformIdentity:
    """The token and userinfo calls, over `session` (which the caller owns; give it a DummyCookieJar)."""

    def __init__(self, session: aiohttp.ClientSession, timeout_s: float, metrics: SignInMetrics) -> None:
        self._session = session
        self._timeout_s = timeout_s
        self._metrics = metrics

    async def exchange_code(
        self, credentials: PlatformCredentials, client_secret: str, code: str, redirect_uri: str
    ) -> str:
        """The access token for `code` (form POST, client_secret_post); SignInRefused otherwise."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": credentials.client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
        }
        status, answer = await self._call("token", "POST", credentials.base_url + TOKEN_PATH, data=form)
        error = _error_code(answer)
        if status == 200 and isinstance(answer, dict) and error is None:
            token = answer.get("access_token")
            token_type = answer.get("token_type", "Bearer")
            if isinstance(token, str) and token and isinstance(token_type, str) and token_type.lower() == "bearer":
                return token
            raise SignInRefused(Refusal.PLATFORM_ERROR, "token endpoint answered 200 without a Bearer access_token")
        if error == "invalid_grant":
            raise SignInRefused(Refusal.INVALID_GRANT, f"token endpoint: invalid_grant (HTTP {status})")
        if error == "invalid_client" or status == 401:
            raise SignInRefused(
                Refusal.INVALID_CLIENT,
                f"token endpoint: {error or 'HTTP 401'}: the platform refused the app's clientId/clientSecret "
                "(a secret that did not decrypt to the platform's, or a stale applicationSync)",
            )
        raise SignInRefused(Refusal.PLATFORM_ERROR, f"token endpoint answered HTTP {status}, error {error!r}")

    async def user_info(self, base_url: str, access_token: str) -> PlatformUser:
        headers = {"Authorization": f"Bearer {access_token}"}
        status, answer = await self._call("userinfo", "GET", base_url + USERINFO_PATH, headers=headers)
        if status != 200 or not isinstance(answer, dict):
            raise SignInRefused(
                Refusal.PLATFORM_ERROR, f"userinfo answered HTTP {status}, error {_error_code(answer)!r}"
            )
        tenant, user_name = answer.get("tenant"), answer.get("userName")
        if not isinstance(tenant, str) or not tenant or not isinstance(user_name, str) or not user_name:
            raise SignInRefused(Refusal.PLATFORM_ERROR, "userinfo lacks `tenant` or `userName`")
        return PlatformUser(tenant, user_name)

    async def _call(self, name: str, method: str, url: str, **request: Any) -> tuple[int, object]:
        """(HTTP status, the JSON answer or None if it is not JSON); PLATFORM_UNREACHABLE past the timeout."""
        started = time.monotonic()
        outcome = "unreachable"
        try:
            async with asyncio.timeout(self._timeout_s):
                async with self._session.request(method, url, allow_redirects=False, **request) as response:
                    body = await _bounded_body(response)
            outcome = str(response.status)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SignInRefused(
                Refusal.PLATFORM_UNREACHABLE,
                f"{name} endpoint {url} not answered within {self._timeout_s:g} s: {type(exc).__name__}",
            ) from None
        finally:
            self._metrics.platform_duration.labels(name, outcome).observe(time.monotonic() - started)
        try:
            answer: object = json.loads(body) if body is not None else None
        except ValueError:
            answer = None
        return response.status, answer


async def _bounded_body(response: aiohttp.ClientResponse) -> bytes | None:
    """The body, or None if it is larger than MAX_ANSWER_BYTES (then it is not read further)."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(16 * 1024):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            return None
    return bytes(body)


def _error_code(answer: object) -> str | None:
    if not isinstance(answer, dict):
        return None
    error = answer.get("error")
    if isinstance(error, str) and _ERROR_CODE.fullmatch(error):
        return error
    return None if error is None else "unreadable"
