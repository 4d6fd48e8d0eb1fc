"""`syncpipe signin`: the sign-in service as a process of its own, wired from the one settings object.

No access log: a callback's query holds the platform's code, and a Referer may hold an application
URL with an assertion in it. Each answer logs its own line instead (signed in or refused, with a
reference), which holds neither.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from runtime.logs import mask_secrets
from runtime.ops_server import Metrics, Readiness, http_runner
from runtime.postgres.migrate import migrate
from runtime.postgres.pool import create_pool
from runtime.probes import pool_probe
from runtime.settings import Settings
from signin.app import SignInSite, build_signin_app
from signin.assertion import AssertionSigner, SigningKey, generated_signing_key, load_signing_key
from signin.client_secret import ClientSecretOpener
from signin.exceptions import SignInNotConfigured
from signin.flow import SignInFlow
from signin.login_cookie import LoginCookies
from signin.metrics import SignInMetrics
from signin.platform import PlatformIdentity
from signin.synced_state import SyncedState

log = logging.getLogger(__name__)

# Each sign-in reads Postgres twice, briefly; the workers share the server's max_connections.
POOL_MAX_SIZE = 5
# Requests in flight wait at most for the platform's timeout, twice (token, userinfo), on shutdown.
_SHUTDOWN_MARGIN_S = 1.0


@dataclass(frozen=True)
class SignInConfig:
    """What `settings` says the service needs, checked before anything connects."""

    public_url: str
    site: SignInSite
    secrets: ClientSecretOpener
    signing_keys: list[SigningKey]
    cookies: LoginCookies


def signin_config(settings: Settings) -> SignInConfig:
    """SignInNotConfigured naming the setting when one is missing or unusable."""
    if settings.database_url is None:
        raise SignInNotConfigured("the sign-in service needs the synced state: set DATABASE_URL")
    if settings.app_private_key is None:
        raise SignInNotConfigured("the sign-in service decrypts client secrets: set SYNCPIPE_APP_PRIVATE_KEY")
    if not settings.signin_app_url:
        raise SignInNotConfigured("set SYNCPIPE_SIGNIN_APP_URL: the application page that receives the assertion")
    public_url = (settings.signin_public_url or f"http://{settings.signin_host}:{settings.signin_port}").rstrip("/")
    for name, url in (("SIGNIN_PUBLIC_URL", public_url), ("SIGNIN_APP_URL", settings.signin_app_url)):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            raise SignInNotConfigured(f"SYNCPIPE_{name} must be an http(s) URL without a fragment")
    try:
        secrets = ClientSecretOpener.from_file(settings.app_private_key)
        keys = [load_signing_key(path) for path in settings.signin_signing_keys]
        if settings.signin_cookie_key is not None:
            cookie_key = settings.signin_cookie_key.get_secret_value()
            cookies = LoginCookies(cookie_key.encode(), settings.signin_login_ttl_s)
        else:
            cookies = LoginCookies.with_random_key(settings.signin_login_ttl_s)
    except ValueError as exc:
        raise SignInNotConfigured(str(exc)) from None
    if settings.signin_cookie_key is not None:
        mask_secrets(settings.signin_cookie_key.get_secret_value())
    else:
        log.info("no SYNCPIPE_SIGNIN_COOKIE_KEY: login cookies are signed with a key of this process only")
    if not keys:
        log.warning(
            "no SYNCPIPE_SIGNIN_SIGNING_KEYS: assertions are signed with a key generated for this process "
            "(they stop verifying when it restarts; run one sign-in instance)"
        )
        keys = [generated_signing_key()]
    site = SignInSite(
        login_url=settings.signin_login_url,
        app_url=settings.signin_app_url,
        logout_redirect_url=settings.signin_logout_redirect_url or settings.signin_app_url,
        secure_cookies=urlsplit(public_url).scheme == "https",
    )
    return SignInConfig(public_url, site, secrets, keys, cookies)


async def serve_signin(
    settings: Settings, ready: asyncio.Event | None = None, *, metrics: Metrics | None = None
) -> None:
    """Serve sign-in on `signin_host:signin_port` until cancelled; `ready` is set once the port is bound.

    Raises SignInNotConfigured before connecting to anything when a setting is missing. Migrates the
    database first (the tables are the workers'; the service only reads them).
    """
    config = signin_config(settings)
    assert settings.database_url is not None
    metrics = metrics if metrics is not None else Metrics()
    pool = await create_pool(settings.database_url.get_secret_value(), max_size=POOL_MAX_SIZE)
    try:
        async with pool.acquire() as connection:
            await migrate(connection)
        # No cookie jar: one session serves every tenant, so nothing a platform sets may carry over.
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
            state = SyncedState(pool)
            signer = AssertionSigner(
                config.signing_keys,
                issuer=config.public_url,
                audience=config.site.app_url,
                ttl_s=settings.signin_assertion_ttl_s,
            )
            counters = SignInMetrics(metrics.registry)
            platform = PlatformIdentity(session, settings.signin_platform_timeout_s, counters)
            flow = SignInFlow(state, platform, config.secrets, signer, public_url=config.public_url)
            app = build_signin_app(
                flow,
                config.cookies,
                signer,
                config.site,
                metrics=metrics,
                counters=counters,
                readiness=Readiness({"postgres": pool_probe(pool)}),
            )
            shutdown_s = 2 * settings.signin_platform_timeout_s + _SHUTDOWN_MARGIN_S
            runner = http_runner(
                app, settings, shutdown_timeout=shutdown_s
            )  # no access log: the callback URL holds the code
            await runner.setup()
            try:
                await web.TCPSite(runner, settings.signin_host, settings.signin_port).start()
                log.info("sign-in service listening on %s", config.public_url)
                if ready is not None:
                    ready.set()
                await asyncio.Event().wait()  # until cancelled
            finally:
                await runner.cleanup()
    finally:
        await pool.close()
