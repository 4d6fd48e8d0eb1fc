"""One sign-in world and one headless Chromium for the sign-in tests of a module (starting them takes
seconds; each test makes tenants of its own, so they share it)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from playwright.async_api import Browser, async_playwright
from pydantic import SecretStr

from runtime.logs import log_handler
from runtime.ops_server import Metrics
from signin import serve_signin
from syncpipe.simulation.identity import IdentityDirectory, SimulatedIdentity, serving_identity
from tests.read_api.browser.browser import CHROMIUM, CHROMIUM_ARGS, INSTALL_HINT
from tests.read_api.browser.pipeline import fresh_database, running_pipeline
from tests.read_api.free_port import free_port
from tests.running import running
from tests.signin.browser.application import serving_application
from tests.signin.browser.world import SignInWorld

# Short enough that the test of a silent platform does not wait long, long enough for a loaded machine.
PLATFORM_TIMEOUT_S = 3.0


@contextlib.contextmanager
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of the process, at DEBUG, as `syncpipe --log-level DEBUG` writes them (JSON, masked;
    the Kafka client's wire dumps left out, as `configure_logging` leaves them out)."""
    stream, root, kafka = io.StringIO(), logging.getLogger(), logging.getLogger("aiokafka")
    handler, levels = log_handler(json=True, stream=stream), (root.level, kafka.level)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    kafka.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        kafka.setLevel(levels[1])


def _merchant_key_file(directory: Path) -> tuple[rsa.RSAPrivateKey, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / "app_private_key.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key, path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(
    kafka_bootstrap: str, postgres_server_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[SignInWorld]:
    merchant_key, key_file = _merchant_key_file(tmp_path_factory.mktemp("signin"))
    signin_port = free_port()
    signin_url = f"http://127.0.0.1:{signin_port}"
    identity = SimulatedIdentity(IdentityDirectory(), callback_url=f"{signin_url}/signin/callback/{{appId}}")
    with captured_logs() as logs:
        async with (
            fresh_database(postgres_server_dsn) as database_url,
            running_pipeline(kafka_bootstrap, database_url) as pipeline,
            serving_identity(identity),
            serving_application(signin_url) as application,
        ):
            cookie_key = secrets.token_urlsafe(32)
            settings = pipeline.settings.model_copy(
                update={
                    "signin_port": signin_port,
                    "signin_login_url": identity.login_url,
                    "signin_app_url": application.landing_url,
                    "signin_logout_redirect_url": f"{application.url}/signed-out",
                    "app_private_key": key_file,
                    "signin_platform_timeout_s": PLATFORM_TIMEOUT_S,
                    "signin_cookie_key": SecretStr(cookie_key),
                }
            )
            serve = running(lambda ready, stop: serve_signin(settings, ready, metrics=Metrics()), graceful=False)
            async with serve:
                world = SignInWorld(pipeline, identity, application, signin_url, merchant_key, key_file, logs)
                world.secrets_used.append(cookie_key)
                yield world


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(INSTALL_HINT)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def silent_platform() -> AsyncIterator[str]:
    """An auth centre that accepts connections and never answers (a platform hanging, not down)."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up and closes
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hanging"
    finally:
        server.close()
