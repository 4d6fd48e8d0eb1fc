"""The `simulate` subcommand's arguments and its run, for the command-line module to mount.

Secrets never come from arguments (they would show in process lists): the access key is the first
of `SYNCPIPE_ACCESS_KEYS`, the instance calls' key the first of `SYNCPIPE_INSTANCE_ACCESS_KEYS` and the
bearer token `SYNCPIPE_API_TOKEN`, all read from `Settings`.
Exit codes: 0 the pipeline converged; 1 it did not (a mismatch, an unsettled, failed or
dead-lettered event, or with --ack-port an event never acknowledged); 2 the run could not be made.
With --identity-port the platform's identity service (SPEC §10) is served for the simulated tenants
and, once the run converged, keeps serving after the report, so that their users can sign in, until
the command is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from pathlib import Path

from runtime.settings import Settings
from signin.flow import CALLBACK_PATH
from syncpipe.simulation.config import SimulationConfig
from syncpipe.simulation.exceptions import SimulationError
from syncpipe.simulation.generator import WorkloadSizes
from syncpipe.simulation.identity import IdentityDirectory, SimulatedIdentity, serving_identity
from syncpipe.simulation.report import SimulationReport
from syncpipe.simulation.runner import simulate

EXIT_CONVERGED = 0
EXIT_DIVERGED = 1
EXIT_UNABLE = 2
# Instances whose order lifecycle a run plays unless --instances says otherwise.
DEFAULT_INSTANCES = 20
# The identity service is the simulated platform's: loopback only, as `syncpipe up --demo` serves it.
IDENTITY_HOST = "127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SimulationConfig.model_fields
    sizes = WorkloadSizes()
    parser.add_argument("--gateway-url", help="default: http://SYNCPIPE_GATEWAY_HOST:SYNCPIPE_GATEWAY_PORT")
    parser.add_argument("--api-url", help="default: http://SYNCPIPE_API_HOST:SYNCPIPE_API_PORT")
    parser.add_argument("--tenants", type=int, default=defaults["tenants"].default)
    parser.add_argument(
        "--instances",
        type=int,
        default=DEFAULT_INSTANCES,
        help="instances whose order lifecycle is played (SPEC §9; needs SYNCPIPE_INSTANCE_ACCESS_KEYS); 0 = none",
    )
    parser.add_argument("--seed", type=int, default=defaults["seed"].default)
    parser.add_argument("--concurrency", type=int, default=defaults["concurrency"].default)
    parser.add_argument("--settle-timeout", type=float, default=defaults["settle_timeout_s"].default, metavar="S")
    parser.add_argument("--departments", type=int, default=sizes.departments_per_tenant, help="per tenant")
    parser.add_argument("--users", type=int, default=sizes.users_per_tenant, help="per tenant")
    parser.add_argument("--changes", type=int, default=sizes.changes_per_tenant, help="incremental, per tenant")
    parser.add_argument("--window", type=int, default=defaults["shuffle_window"].default, help="reordering span")
    parser.add_argument("--resend-fraction", type=float, default=defaults["resend_fraction"].default)
    parser.add_argument(
        "--client-secret-key", type=Path, help="RSA key PEM to seal client secrets; default SYNCPIPE_APP_PRIVATE_KEY"
    )
    parser.add_argument(
        "--ack-port",
        type=int,
        metavar="PORT",
        help="serve the platform's ack endpoint on this port and require every accepted event to be "
        "acknowledged; the acker's SYNCPIPE_ACK_URL must be http://HOST:PORT/ (syncpipe up --demo sets it)",
    )
    parser.add_argument("--ack-host", default=defaults["ack_host"].default, help="address the ack endpoint binds")
    parser.add_argument(
        "--identity-port",
        type=int,
        metavar="PORT",
        help="serve the platform's identity service (unified login, token, userinfo, logout) on this loopback "
        "port, point the simulated tenants' domainName at it, and keep serving after the report until stopped, "
        "so that their users sign in through `syncpipe signin` (whose callback, from SYNCPIPE_SIGNIN_PUBLIC_URL "
        "or SYNCPIPE_SIGNIN_HOST/PORT, it redirects to); prints the SYNCPIPE_SIGNIN_LOGIN_URL to set. "
        "A run that did not converge exits at once",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def config_from_args(args: argparse.Namespace, settings: Settings) -> SimulationConfig:
    """Raises SimulationError when a secret is missing or an argument is out of range."""
    access_keys = settings.access_key_values()
    if not access_keys:
        raise SimulationError("SYNCPIPE_ACCESS_KEYS is not set: the gateway would refuse every call")
    if settings.api_token is None:
        raise SimulationError("SYNCPIPE_API_TOKEN is not set: the read API would refuse every read")
    instance_keys = settings.instance_access_key_values()
    if args.instances and not instance_keys:
        raise SimulationError(
            "SYNCPIPE_INSTANCE_ACCESS_KEYS is not set: the gateway would refuse every instance call (or --instances 0)"
        )
    try:
        return SimulationConfig(
            gateway_url=args.gateway_url or f"http://{settings.gateway_host}:{settings.gateway_port}",
            api_url=args.api_url or f"http://{settings.api_host}:{settings.api_port}",
            access_key=access_keys[0],
            api_token=settings.api_token,
            tenants=args.tenants,
            instances=args.instances,
            instance_access_key=instance_keys[0] if instance_keys else None,
            gateway_base_path=settings.gateway_base_path,
            seed=args.seed,
            concurrency=args.concurrency,
            settle_timeout_s=args.settle_timeout,
            sizes=WorkloadSizes(args.departments, args.users, args.changes),
            shuffle_window=args.window,
            resend_fraction=args.resend_fraction,
            client_secret_key=args.client_secret_key or settings.app_private_key,
            ack_port=args.ack_port,
            ack_host=args.ack_host,
        )
    except ValueError as exc:
        raise SimulationError(f"bad simulation arguments: {exc}") from None


async def run_from_args(args: argparse.Namespace, settings: Settings) -> int:
    """Run, print the report (text, or JSON with --json) and return the exit code; with --identity-port,
    serve the identity service meanwhile and, if the run converged, afterwards until cancelled (Ctrl-C)."""
    try:
        config = config_from_args(args, settings)
        if args.identity_port is None:
            return _reported(await simulate(config), as_json=args.json)
        identity = SimulatedIdentity(IdentityDirectory(), callback_url=signin_callback_url(settings))
        async with contextlib.AsyncExitStack() as stack:
            try:
                await stack.enter_async_context(serving_identity(identity, IDENTITY_HOST, args.identity_port))
            except OSError as exc:
                raise SimulationError(
                    f"cannot serve the identity service on port {args.identity_port}: {exc}"
                ) from None
            code = _reported(await simulate(config, identity=identity), as_json=args.json)
            if code != EXIT_CONVERGED:
                return code
            print(
                "the platform's identity service serves the simulated tenants until stopped (Ctrl-C); run "
                f"`syncpipe signin` with SYNCPIPE_SIGNIN_LOGIN_URL='{identity.login_url}'",
                file=sys.stderr,  # stdout holds the report alone (--json)
                flush=True,
            )
            await asyncio.Event().wait()  # until cancelled
    except SimulationError as exc:
        print(f"syncpipe simulate: {exc}", file=sys.stderr)
        return EXIT_UNABLE
    raise AssertionError("not reached: the identity service serves until cancelled")


def signin_callback_url(settings: Settings) -> str:
    """The callback the simulated platform redirects to: the sign-in service's, `{appId}` in it (docs/sign-in.md)."""
    public_url = settings.signin_public_url or f"http://{settings.signin_host}:{settings.signin_port}"
    return public_url.rstrip("/") + CALLBACK_PATH


def _reported(report: SimulationReport, *, as_json: bool) -> int:
    print(json.dumps(report.to_json(), ensure_ascii=False, indent=2) if as_json else report.render(), flush=True)
    return EXIT_CONVERGED if report.ok else EXIT_DIVERGED
