"""`syncpipe up --demo`: the platform simulator plays the marketplace against the pipeline `up` runs (sync
calls and the order lifecycle), then one simulated person signs in through its identity service."""

from __future__ import annotations

import aiohttp

from runtime.settings import Settings
from syncpipe.sign_in_demo import SignInDemo, check_sign_in
from syncpipe.simulation.config import SimulationConfig
from syncpipe.simulation.generator import WorkloadSizes, tenant_ids
from syncpipe.simulation.read_api import ReadApiClient
from syncpipe.simulation.report import SimulationReport
from syncpipe.simulation.runner import simulate


async def play_marketplace(
    settings: Settings,
    gateway_url: str,
    api_url: str,
    *,
    tenants: int,
    instances: int,
    seed: int,
    ack_port: int | None,
    sign_in: SignInDemo,
) -> SimulationReport:
    """The simulator's calls, acks and identity service against the running pipeline; its report."""
    assert settings.api_token is not None
    config = SimulationConfig(
        gateway_url=gateway_url,
        api_url=api_url,
        access_key=settings.access_keys[0],
        api_token=settings.api_token,
        tenants=tenants,
        seed=seed,
        client_secret_key=settings.app_private_key,
        ack_port=ack_port,
        instances=instances,
        instance_access_key=settings.instance_access_keys[0] if instances else None,
        gateway_base_path=settings.gateway_base_path,
    )
    return await simulate(config, identity=sign_in.identity)


async def sign_in_once(settings: Settings, api_url: str, signin_url: str, *, tenants: int, seed: int) -> list[str]:
    """A simulated user's sign-in URL, followed once as a browser would to the demo application: the
    lines to show, the last one `sign-in check OK` or `sign-in check FAILED …`."""
    assert settings.api_token is not None
    async with aiohttp.ClientSession() as session:
        read_api = ReadApiClient(session, api_url, settings.api_token.get_secret_value(), poll_interval_s=0.5)
        url, reached = await check_sign_in(read_api, tenant_ids(seed, tenants, WorkloadSizes()), signin_url)
    lines = [f"sign in as a simulated user: {url}"]
    if reached is None or reached.status != 200 or not reached.url.startswith(settings.signin_app_url or ""):
        ended = f"{reached.url} (HTTP {reached.status})" if reached else "nowhere"
        return [*lines, f"sign-in check FAILED: ended at {ended}"]
    return [*lines, "sign-in check OK: the application received an assertion and verified it with the JWKS"]
