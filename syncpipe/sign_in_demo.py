"""What `syncpipe up` runs around the sign-in service (docs/sign-in.md).

- With `--demo`: the simulated platform's identity service, which the simulated tenants' domainName
  and SYNCPIPE_SIGNIN_LOGIN_URL point at, and a merchant key (`.syncpipe/demo-app-private-key.pem`)
  to seal and open their client secrets when SYNCPIPE_APP_PRIVATE_KEY is unset.
- When SYNCPIPE_SIGNIN_APP_URL is unset: the merchant's demo application, where sign-ins land.
- After the demo's simulation: the sign-in URL of a simulated user who may sign in, and a check that
  the sign-in works (followed as a browser follows it, to the demo application).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runtime.settings import Settings
from syncpipe.demo_application import DemoApplication, serving_demo_application
from syncpipe.embedded.process import free_port
from syncpipe.simulation.identity import IdentityDirectory, SimulatedIdentity, serving_identity
from syncpipe.simulation.identity.person import Reached, sign_in_as, who_may_sign_in
from syncpipe.simulation.read_api import ReadApiClient

DEMO_KEY_FILE = Path(".syncpipe/demo-app-private-key.pem")
_LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class SignInDemo:
    """The parts `up` serves besides the sign-in service; each None when not needed."""

    identity: SimulatedIdentity | None
    identity_port: int
    application: DemoApplication | None
    application_port: int


def prepare_sign_in(settings: Settings, *, demo: bool) -> tuple[dict[str, Any], SignInDemo]:
    """The settings `up` overrides for sign-in, and what it will serve for it."""
    overrides: dict[str, Any] = {}
    public_url = (settings.signin_public_url or f"http://{settings.signin_host}:{settings.signin_port}").rstrip("/")
    identity, identity_port = None, 0
    if demo:
        if settings.app_private_key is None:
            overrides["app_private_key"] = _demo_private_key()
        identity_port = free_port()
        identity = SimulatedIdentity(IdentityDirectory(), callback_url=f"{public_url}/signin/callback/{{appId}}")
        identity.url = f"http://{_LOOPBACK}:{identity_port}"
        overrides["signin_login_url"] = identity.login_url
    application, application_port = None, 0
    if settings.signin_app_url is None:
        application_port = free_port()
        application = DemoApplication(f"http://{settings.signin_host}:{application_port}", public_url)
        overrides["signin_app_url"] = application.landing_url
        if settings.signin_logout_redirect_url is None:
            overrides["signin_logout_redirect_url"] = application.signed_out_url
    return overrides, SignInDemo(identity, identity_port, application, application_port)


@contextlib.asynccontextmanager
async def serving_sign_in_demo(demo: SignInDemo, settings: Settings) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        if demo.identity is not None:
            await stack.enter_async_context(serving_identity(demo.identity, _LOOPBACK, demo.identity_port))
        if demo.application is not None:
            serving = serving_demo_application(demo.application, settings.signin_host, demo.application_port)
            await stack.enter_async_context(serving)
        yield


async def check_sign_in(read_api: ReadApiClient, tenants: Iterable[str], signin_url: str) -> tuple[str, Reached | None]:
    """A sign-in URL for a simulated user who may sign in, with what following it reached (None: nobody may)."""
    for tenant_id in tenants:
        found = who_may_sign_in(await read_api.tenant_snapshot(tenant_id))
        if found is None:
            continue
        app_id, user_name = found
        login_url = f"{signin_url}/signin/login/{app_id}"
        description = f"{login_url}  (on the simulated platform's login page, choose ({user_name}) of {tenant_id})"
        return description, await sign_in_as(login_url, user_name)
    return "no simulated user may sign in (every tenant deleted?)", None


def _demo_private_key() -> Path:
    """The merchant's RSA key for the demo: made once, kept private to the user (0600)."""
    if not DEMO_KEY_FILE.exists():
        DEMO_KEY_FILE.parent.mkdir(exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        descriptor = os.open(DEMO_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as key_file:
            key_file.write(pem)
    return DEMO_KEY_FILE
