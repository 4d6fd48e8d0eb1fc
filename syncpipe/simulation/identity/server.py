"""The simulated platform's identity endpoints (SPEC §10), served on loopback.

- `GET /unified-login/#/portal-login?ind=UNOP&appId=…`: the unified login page. The app is in the
  fragment, which only the browser sees, so the page's one script hands it to `/unified-login/accounts`,
  which lists the accounts of the tenant the app belongs to; choosing one (no password: it is a
  simulator) redirects to the app's callback URL with `?code=…&tenant=…`.
- `POST /{realm}/api/v1/oauth2/token` (form, client_secret_post): a single-use code, issued for this
  tenant and client and redirect_uri, becomes a Bearer token; `invalid_client` (401, "Bad client
  credentials") or `invalid_grant` (400) otherwise.
- `GET /{realm}/api/v1/oauth2/userinfo`: the account behind a Bearer token.
- `GET /{realm}/api/v1/logout?redirect_url=…`: ends the session and redirects there.

`{realm}` is the path of the tenant's current domainName (`adopt` points every simulated tenant's
domainName here). Codes and tokens are random and live in memory; nothing here logs them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from html import escape
from urllib.parse import quote, urlencode, urlsplit

from aiohttp import web

from schemas.calls import Interface
from syncpipe.simulation.generator import PlatformCall
from syncpipe.simulation.identity.directory import IdentityDirectory, PlatformTenant

CODE_TTL_S = 300.0  # a code is for the redirect that carries it: minutes at most
TOKEN_TTL_S = 7200  # what the platform documents as `expires_in`
LOGIN_PAGE = "/unified-login/"
ACCOUNTS_PAGE = "/unified-login/accounts"
SIGN_IN = "/unified-login/sign-in"


@dataclass(frozen=True, slots=True)
class _Grant:
    tenant_id: str
    user_name: str
    client_id: str
    redirect_uri: str
    expires_at: float


@dataclass
class SimulatedIdentity:
    """The identity service of every simulated tenant. `callback_url` is each app's registered
    redirect_uri (`{appId}` in it), as the seller console would hold it."""

    directory: IdentityDirectory
    callback_url: str
    url: str = ""  # set once serving
    logouts: list[str] = field(default_factory=list)  # the realms whose logout was called, in order
    issued: list[str] = field(default_factory=list)  # every code and token handed out, for leak checks
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _tokens: dict[str, _Grant] = field(default_factory=dict)

    @property
    def login_url(self) -> str:
        """The unified login page, as SYNCPIPE_SIGNIN_LOGIN_URL takes it."""
        return f"{self.url}{LOGIN_PAGE}#/portal-login?ind=UNOP&appId={{appId}}"

    def domain_for(self, realm: str) -> str:
        return f"{self.url}/{quote(realm, safe='')}"

    def adopt(self, calls: Iterable[PlatformCall]) -> list[PlatformCall]:
        """`calls` with every tenant's domainName pointed here (at `/{tenantCode}`), taken into the directory.

        Give it the calls before their client secrets are sealed: the platform knows the plaintext.
        """
        adopted = [self._pointed_here(call) for call in calls]
        self.directory.apply(adopted)
        return adopted

    def _pointed_here(self, call: PlatformCall) -> PlatformCall:
        if call.interface != Interface.TENANT_SYNC or "domainName" not in call.body:
            return call
        realm = str(call.body.get("tenantCode") or call.body["tenantId"])
        return call._replace(body={**call.body, "domainName": self.domain_for(realm)})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(LOGIN_PAGE, self._login_page)
        app.router.add_get(ACCOUNTS_PAGE, self._accounts_page)
        app.router.add_post(SIGN_IN, self._sign_in)
        app.router.add_post("/{realm}/api/v1/oauth2/token", self._token)
        app.router.add_get("/{realm}/api/v1/oauth2/userinfo", self._userinfo)
        app.router.add_get("/{realm}/api/v1/logout", self._logout)
        return app

    # -- the unified login page ---------------------------------------------------------------

    async def _login_page(self, request: web.Request) -> web.Response:
        script = (
            "const query = new URLSearchParams((location.hash.split('?')[1]) || '');"
            f"location.replace('{ACCOUNTS_PAGE}?appId=' + encodeURIComponent(query.get('appId') || ''));"
        )
        return _html("Unified login (simulated)", f"<p>Loading…</p><script>{script}</script>")

    async def _accounts_page(self, request: web.Request) -> web.Response:
        app_id = request.query.get("appId", "")
        tenant = self.directory.by_app(app_id)
        if tenant is None:
            return _html("Unified login (simulated)", f"<p>No tenant has the app {escape(app_id)}.</p>", 404)
        rows = "".join(_account_form(app_id, entry, tenant) for _, entry in sorted(tenant.accounts.items()))
        body = (
            f"<p>Tenant <strong>{escape(tenant.name or tenant.tenant_id)}</strong> ({escape(tenant.tenant_id)}), "
            f"app {escape(app_id)}. The simulated platform lets every account of the tenant sign in, "
            "enabled and authorised or not: syncpipe's sign-in decides.</p>"
            f"<ul>{rows}</ul>"
        )
        return _html("Unified login (simulated): choose an account", body)

    async def _sign_in(self, request: web.Request) -> web.Response:
        form = await request.post()
        app_id, user_name = str(form.get("appId", "")), str(form.get("userName", ""))
        tenant = self.directory.by_app(app_id)
        if tenant is None or user_name not in tenant.accounts:
            return _html("Unified login (simulated)", "<p>No such account.</p>", 404)
        redirect_uri = self.callback_url.replace("{appId}", quote(app_id, safe=""))
        code = secrets.token_urlsafe(24)
        expires_at = time.monotonic() + CODE_TTL_S
        client_id = tenant.apps[app_id].client_id
        self._codes[code] = _Grant(tenant.tenant_id, user_name, client_id, redirect_uri, expires_at)
        self.issued.append(code)
        raise web.HTTPFound(f"{redirect_uri}?{urlencode({'code': code, 'tenant': tenant.tenant_id})}")

    # -- the tenant's auth centre ---------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        tenant = self.directory.by_realm(request.match_info["realm"])
        if tenant is None:
            raise web.HTTPNotFound()
        form = await request.post()
        client_id, client_secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        if not any(
            credential.client_id == client_id
            and hmac.compare_digest(credential.client_secret.encode(), client_secret.encode())
            for credential in tenant.apps.values()
        ):
            return _oauth_error(401, "invalid_client", "Bad client credentials")
        if form.get("grant_type") != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type", "only authorization_code is simulated")
        grant = self._codes.get(str(form.get("code", "")))
        if (
            grant is None
            or grant.tenant_id != tenant.tenant_id
            or grant.client_id != client_id
            or grant.redirect_uri != form.get("redirect_uri")
            or grant.expires_at < time.monotonic()
        ):
            return _oauth_error(400, "invalid_grant", "Invalid authorization code")
        del self._codes[str(form["code"])]  # single use
        token, refresh_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self._tokens[token] = dataclasses.replace(grant, expires_at=time.monotonic() + TOKEN_TTL_S)
        self.issued += [token, refresh_token]
        answer = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL_S,
            "scope": "openid",
            "refresh_token": refresh_token,
        }
        return web.json_response(answer, headers={"Cache-Control": "no-store"})

    async def _userinfo(self, request: web.Request) -> web.Response:
        tenant = self.directory.by_realm(request.match_info["realm"])
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        grant = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if (
            tenant is None
            or grant is None
            or grant.tenant_id != tenant.tenant_id
            or grant.expires_at < time.monotonic()
        ):
            return _oauth_error(401, "invalid_token", "Invalid access token")
        entry = tenant.accounts.get(grant.user_name)
        if entry is None:
            return _oauth_error(401, "invalid_token", "The account no longer exists")
        org_code = str(entry.get("orgCode", ""))
        return web.json_response(
            {
                "userName": grant.user_name,
                "name": entry.get("name", ""),
                "email": entry.get("email", ""),
                "mobile": entry.get("mobile", ""),
                "role": entry.get("role", "user"),
                "organizationCode": org_code,
                "organizationName": tenant.departments.get(org_code, ""),
                "tenant": tenant.tenant_id,
                "id": f"{tenant.tenant_id}:{grant.user_name}",
                "userId": grant.user_name,
            }
        )

    async def _logout(self, request: web.Request) -> web.Response:
        realm = request.match_info["realm"]
        if self.directory.by_realm(realm) is None:
            raise web.HTTPNotFound()
        self.logouts.append(realm)
        redirect_url = request.query.get("redirect_url", "")
        if urlsplit(redirect_url).scheme not in ("http", "https"):
            return _html("Signed out (simulated)", "<p>You are signed out.</p>")
        raise web.HTTPFound(redirect_url)


def _account_form(app_id: str, entry: dict[str, object], tenant: PlatformTenant) -> str:
    user_name = str(entry["userName"])
    state = "" if entry.get("enable", True) else " (disabled)"
    return (
        f'<li><form method="post" action="{SIGN_IN}">'
        f'<input type="hidden" name="appId" value="{escape(app_id)}">'
        f'<input type="hidden" name="userName" value="{escape(user_name)}">'
        f'<button type="submit">Sign in as {escape(str(entry.get("name", "")))} ({escape(user_name)})</button>'
        f" {escape(str(entry.get('role', 'user')))}{state}</form></li>"
    )


def _html(title: str, body: str, status: int = 200) -> web.Response:
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title></head>'
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=page, status=status, content_type="text/html")


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


@contextlib.asynccontextmanager
async def serving_identity(identity: SimulatedIdentity, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve `identity` on `host:port` (0: a free port) until the block ends; yields (and sets) its URL.

    No access log: a callback redirect or a logout URL is no secret, but the platform's logs are not ours
    to fill in `syncpipe up`'s output."""
    runner = web.AppRunner(identity.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        identity.url = f"http://{host}:{bound_port}"
        yield identity.url
    finally:
        await runner.cleanup()
