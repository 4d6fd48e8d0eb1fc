"""The platform's identity service as a sign-in uses it (SPEC §10 steps 3-5): oauthlib over aiohttp.

oauthlib (sans-IO) does the OAuth2 protocol: it writes the token request's form and reads the token
answer, naming its RFC 6749 §5.2 error (InvalidGrantError, InvalidClientError, ...) or what it lacks
(MissingTokenError); it writes the userinfo call's Bearer header. aiohttp only carries the bytes: each
call is bounded in time (a person waits in a browser), follows no redirect, keeps no cookie (one
session serves every tenant) and reads at most MAX_ANSWER_BYTES. Failures become SignInRefused with
the refusal that names them; no code, token or secret is put in an error.
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
from oauthlib.oauth2 import InvalidClientError, InvalidGrantError, OAuth2Error, WebApplicationClient
from oauthlib.oauth2.rfc6749.tokens import prepare_bearer_headers

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
# RFC 6749 §4.1.3: the token request is a form.
_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


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
        client = WebApplicationClient(credentials.client_id)
        form = client.prepare_request_body(
            code=code, redirect_uri=redirect_uri, include_client_id=True, client_secret=client_secret
        )
        status, body = await self._call(
            "token", "POST", credentials.base_url + TOKEN_PATH, data=form.encode(), headers=_FORM_HEADERS
        )
        if body is None:
            raise _no_token(status, f"an answer over {MAX_ANSWER_BYTES} bytes")
        try:
            token = client.parse_request_body_response(body.decode())
        except InvalidGrantError:
            raise SignInRefused(Refusal.INVALID_GRANT, f"token endpoint: invalid_grant (HTTP {status})") from None
        except InvalidClientError:
            raise _client_refused("invalid_client") from None
        except OAuth2Error as error:
            # MissingTokenError for an answer without access_token (an empty 401 or 5xx too), or another
            # error code, which is no refusal of its own.
            raise _no_token(status, f"error {_error_name(error.error)!r}") from None
        except (ValueError, TypeError):
            # Not a JSON (or form) object, or a malformed member such as an `expires_in` that is no integer.
            raise _no_token(status, "not an RFC 6749 token answer") from None
        if status != 200:
            raise _no_token(status, "a token outside a 200 answer")
        access_token, token_type = token.get("access_token"), token.get("token_type", "Bearer")
        # The platform documents Bearer, the one type the userinfo call sends (RFC 6750).
        if isinstance(access_token, str) and access_token and str(token_type).lower() == "bearer":
            return access_token
        raise SignInRefused(Refusal.PLATFORM_ERROR, "token endpoint answered 200 without a Bearer access_token")

    async def user_info(self, base_url: str, access_token: str) -> PlatformUser:
        headers = prepare_bearer_headers(access_token)
        status, body = await self._call("userinfo", "GET", base_url + USERINFO_PATH, headers=headers)
        answer = _json_or_none(body)
        if status != 200 or not isinstance(answer, dict):
            raise SignInRefused(
                Refusal.PLATFORM_ERROR, f"userinfo answered HTTP {status}, error {_error_code(answer)!r}"
            )
        tenant, user_name = answer.get("tenant"), answer.get("userName")
        if not isinstance(tenant, str) or not tenant or not isinstance(user_name, str) or not user_name:
            raise SignInRefused(Refusal.PLATFORM_ERROR, "userinfo lacks `tenant` or `userName`")
        return PlatformUser(tenant, user_name)

    async def _call(self, name: str, method: str, url: str, **request: Any) -> tuple[int, bytes | None]:
        """(HTTP status, the body or None if it is over MAX_ANSWER_BYTES); PLATFORM_UNREACHABLE past the timeout."""
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
        return response.status, body


def _client_refused(cause: str) -> SignInRefused:
    return SignInRefused(
        Refusal.INVALID_CLIENT,
        f"token endpoint: {cause}: the platform refused the app's clientId/clientSecret "
        "(a secret that did not decrypt to the platform's, or a stale applicationSync)",
    )


def _no_token(status: int, why: str) -> SignInRefused:
    """A token answer without a token: a 401 refuses the credential (RFC 6749 §5.2), anything else is the platform's."""
    if status == 401:
        return _client_refused("HTTP 401")
    return SignInRefused(Refusal.PLATFORM_ERROR, f"token endpoint answered HTTP {status}: {why}")


async def _bounded_body(response: aiohttp.ClientResponse) -> bytes | None:
    """The body, or None if it is larger than MAX_ANSWER_BYTES (then it is not read further)."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(16 * 1024):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            return None
    return bytes(body)


def _json_or_none(body: bytes | None) -> object:
    try:
        return json.loads(body) if body is not None else None
    except ValueError:
        return None


def _error_code(answer: object) -> str | None:
    return _error_name(answer.get("error")) if isinstance(answer, dict) else None


def _error_name(error: object) -> str | None:
    """`error` if it is an error code: the platform's text reaches a log only as such."""
    if isinstance(error, str) and _ERROR_CODE.fullmatch(error):
        return error
    return None if error is None else "unreadable"
