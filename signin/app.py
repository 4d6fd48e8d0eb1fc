"""The sign-in service as an aiohttp application: login start, callback, logout, JWKS and ops routes.

The routes only decode the request, call the flow and encode the answer; every refusal is turned
into its page (signin.refusals.PAGES), its metric and one log line here, in `_refused`.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from aiohttp import web
from aiohttp.typedefs import Handler

from runtime.ops_server import Metrics, Readiness, add_ops_routes
from signin.assertion import AssertionSigner
from signin.exceptions import SignInRefused
from signin.flow import SignInFlow
from signin.login_cookie import COOKIE_NAME, LoginCookies
from signin.metrics import REDIRECTED, SIGNED_IN, SignInMetrics
from signin.pages import refusal_page
from signin.refusals import PAGES, Refusal, RefusalPage

log = logging.getLogger(__name__)

CALLBACK_PREFIX = "/signin/callback/"
# The JWKS changes only at a key rotation; applications may cache it this long (publish a new key
# at least this long before it signs).
JWKS_MAX_AGE_S = 300
_MAX_ID_LENGTH = 64  # appId and tenantId are ids of at most 64 characters (SPEC §1)
_MAX_CODE_LENGTH = 1024
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    # The assertion travels in the application's URL: no page of ours may leak a URL onwards.
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
    ),
}
_UNEXPECTED = RefusalPage(500, "Something went wrong", "Sign-in failed on our side. Please try again in a minute.")


@dataclass(frozen=True)
class SignInSite:
    """Where the browser goes: the platform's login page (`{appId}` in it), the application, after logout."""

    login_url: str
    app_url: str
    logout_redirect_url: str
    secure_cookies: bool


def build_signin_app(
    flow: SignInFlow,
    cookies: LoginCookies,
    signer: AssertionSigner,
    site: SignInSite,
    *,
    metrics: Metrics,
    counters: SignInMetrics,
    readiness: Readiness,
) -> web.Application:
    """The routes over their dependencies, which the caller owns; `/metrics` serves `metrics`' registry,
    on which `counters` are registered."""
    app = web.Application(middlewares=[_security_headers])
    routes = _Routes(flow, cookies=cookies, signer=signer, site=site, metrics=counters)
    add_ops_routes(app, metrics, readiness)
    app.router.add_get("/signin/login/{appId:[^/]+}", routes.login)
    # No HEAD: a link checker's HEAD must not spend a code (a GET without the login cookie spends none).
    app.router.add_get("/signin/callback/{appId:[^/]+}", routes.callback, allow_head=False)
    app.router.add_get("/signin/logout", routes.logout)
    app.router.add_get("/signin/jwks.json", routes.jwks)
    return app


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if request.path.startswith("/signin/"):
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
    return response


class _Routes:
    def __init__(
        self,
        flow: SignInFlow,
        *,
        cookies: LoginCookies,
        signer: AssertionSigner,
        site: SignInSite,
        metrics: SignInMetrics,
    ) -> None:
        self._flow = flow
        self._cookies = cookies
        self._signer = signer
        self._site = site
        self._metrics = metrics

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Set the login-start cookie and send the browser to the platform's unified login page.

        The synced state is not consulted yet: the tenant is only known at the callback, which
        checks it (a deleted tenant's people then read that its subscription ended).
        """
        app_id = request.match_info["appId"]
        if not _is_id(app_id):
            refused = SignInRefused(Refusal.BAD_CALLBACK, "login start without a valid appId")
            self._metrics.login_starts.labels(refused.refusal.value).inc()
            return _refused(refused, "login start")
        self._metrics.login_starts.labels(REDIRECTED).inc()
        response = _see_other(self._site.login_url.replace("{appId}", quote(app_id, safe="")))
        response.set_cookie(
            COOKIE_NAME,
            self._cookies.issue(app_id),
            max_age=round(self._cookies.ttl_s),
            path=CALLBACK_PREFIX,
            httponly=True,
            samesite="Lax",
            secure=self._site.secure_cookies,
        )
        return response

    async def callback(self, request: web.Request) -> web.StreamResponse:
        """`?code=…&tenant=…` from the platform: the application gets an assertion, or the person a page."""
        app_id = request.match_info["appId"]
        try:
            if not self._cookies.started_for(request.cookies.get(COOKIE_NAME), app_id):
                raise SignInRefused(Refusal.LOGIN_EXPIRED, f"callback for app {app_id!r} without a login-start cookie")
            code, tenant_id = request.query.get("code", ""), request.query.get("tenant", "")
            if not (_is_id(app_id) and _is_id(tenant_id) and _is_code(code)):
                raise SignInRefused(Refusal.BAD_CALLBACK, "callback without a valid code, tenant or appId")
            person, assertion = await self._flow.sign_in(app_id, tenant_id, code)
        except SignInRefused as refused:
            self._metrics.sign_ins.labels(refused.refusal.value).inc()
            response = _refused(refused, "sign-in")
        except Exception:
            reference = _reference()
            log.exception("sign-in for app %r failed unexpectedly (reference %s)", app_id, reference)
            response = _page(_UNEXPECTED, reference)
        else:
            self._metrics.sign_ins.labels(SIGNED_IN).inc()
            log.info(
                "signed in user %r of tenant %r to app %r",
                person.user_name,
                person.tenant_id,
                app_id,
                extra={"tenantId": person.tenant_id},
            )
            response = _see_other(_with_query(self._site.app_url, {"assertion": assertion}))
        response.del_cookie(COOKIE_NAME, path=CALLBACK_PREFIX)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """`?tenant=…`: end the person's platform session at their tenant's logout, then back to the application."""
        tenant_id = request.query.get("tenant", "")
        try:
            if not _is_id(tenant_id):
                raise SignInRefused(Refusal.BAD_CALLBACK, "logout without a valid tenant")
            target = await self._flow.logout_target(tenant_id, self._site.logout_redirect_url)
        except SignInRefused as refused:
            self._metrics.logouts.labels(refused.refusal.value).inc()
            return _refused(refused, "logout")
        self._metrics.logouts.labels(REDIRECTED).inc()
        return _see_other(target)

    async def jwks(self, request: web.Request) -> web.Response:
        return web.json_response(self._signer.jwks(), headers={"Cache-Control": f"public, max-age={JWKS_MAX_AGE_S}"})


def _refused(refused: SignInRefused, what: str) -> web.Response:
    reference = _reference()
    page = PAGES[refused.refusal]
    level = logging.WARNING if page.status >= 500 else logging.INFO
    log.log(level, "%s refused, %s (reference %s)", what, refused.detail, reference)
    return _page(page, reference)


def _page(page: RefusalPage, reference: str) -> web.Response:
    return web.Response(text=refusal_page(page, reference), status=page.status, content_type="text/html")


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _with_query(url: str, parameters: dict[str, str]) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(parameters)}"


def _reference() -> str:
    """A short id tying the page a person reports to the log line an operator finds."""
    return secrets.token_hex(4)


def _is_id(value: str) -> bool:
    return 0 < len(value) <= _MAX_ID_LENGTH and value.isprintable()


def _is_code(value: str) -> bool:
    return 0 < len(value) <= _MAX_CODE_LENGTH and value.isascii() and value.isprintable() and " " not in value
