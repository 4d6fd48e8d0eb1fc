"""`syncpipe up`: the whole pipeline in one command, on embedded services unless configured.

Starts what is not configured (a broker for KAFKA_BOOTSTRAP_SERVERS: Tansu, or Apache Kafka with
`--broker apache` or SYNCPIPE_BROKER=apache; a Postgres for DATABASE_URL, throwaway or kept in
`--data-dir`; an access key and an API token), runs the gateway, a worker, an acker, the read API and
the sign-in service in this process, says where they are and `ready` once each one answers,
optionally feeds the platform simulator in (syncpipe.demo), and stops everything on Ctrl-C / SIGTERM.

Its first lines say what it does not keep: the embedded broker holds calls in memory (Tansu) or in a
temp folder (Apache Kafka) and the throwaway Postgres is deleted, so a call answered 000000 does not
survive the process. Folders that runs killed before they could clean up left in the temp directory
are removed at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY
from pydantic import SecretStr

from gateway.app import serve_gateway
from read_api import serve_api
from runtime.logs import mask_secrets
from runtime.ops_server import Metrics, ops_endpoint, started
from runtime.processes import GRACEFUL_STOP_S, install_stop_signals
from runtime.settings import Settings
from signin import serve_signin
from syncpipe.demo import play_marketplace, sign_in_once
from syncpipe.embedded import EmbeddedPostgres
from syncpipe.embedded.brokers import describe, embedded_broker, where_calls_wait
from syncpipe.embedded.process import free_port
from syncpipe.embedded.run_dirs import remove_dead_run_dirs
from syncpipe.sign_in_demo import SignInDemo, prepare_sign_in, serving_sign_in_demo
from syncpipe.status_view import Status, StatusView, read_status
from workers.acks.metrics import AckerMetrics
from workers.acks.service import serve_acker
from workers.applier.metrics import WorkerMetrics
from workers.applier.service import serve_worker

log = logging.getLogger(__name__)

DEV_ENV_FILE = Path(".syncpipe/dev.env")


async def run_up(
    settings: Settings,
    *,
    demo: bool,
    demo_tenants: int,
    seed: int,
    exit_after_demo: bool,
    view: StatusView,
    logs: dict[str, Path] | None = None,
    demo_instances: int = 0,
    data_dir: Path | None = None,
) -> int:
    """`logs`: where the components' logs go, when not to stderr (said once, before anything starts);
    `data_dir` keeps the embedded services' data there (Postgres in `<data_dir>/postgres`; Tansu's files
    in `<data_dir>/kafka`, which hold no record: it keeps them in memory)."""
    _say = view.say
    for line in _what_is_not_kept(settings, data_dir):
        _say(line)
    removed = remove_dead_run_dirs()
    if removed:
        log.info("removed %d folders left in the temp directory by runs that died", len(removed))
    if logs:
        _say(f"  logs      {logs['up'].parent}/{{{','.join(sorted(logs))}}}.log  (JSON lines)")
    with contextlib.ExitStack() as services:
        overrides: dict[str, Any] = {}
        if settings.kafka_bootstrap_servers is None:
            kafka = services.enter_context(
                embedded_broker(settings.broker, data_dir=data_dir / "kafka" if data_dir else None)
            )
            overrides["kafka_bootstrap_servers"] = kafka.bootstrap_servers
            _say(f"  kafka     {kafka.bootstrap_servers}  ({describe(settings.broker)})")
        if settings.database_url is None:
            postgres = services.enter_context(EmbeddedPostgres(data_dir=data_dir / "postgres" if data_dir else None))
            overrides["database_url"] = SecretStr(postgres.dsn)
            kept = "throwaway" if data_dir is None else f"kept in {data_dir / 'postgres'}"
            _say(f"  postgres  {postgres.dsn}  (embedded, {kept})")
        if not settings.access_keys:
            overrides["access_keys"] = (SecretStr(secrets.token_urlsafe(24)),)
        if not settings.instance_access_keys:
            overrides["instance_access_keys"] = (SecretStr(secrets.token_urlsafe(24)),)
        if settings.api_token is None:
            overrides["api_token"] = SecretStr(secrets.token_urlsafe(24))
        demo_ack_port = None
        if demo and settings.ack_url is None:
            # The simulator plays the platform's ack callback too: the acker sends to it.
            demo_ack_port = free_port()
            overrides["ack_url"] = f"http://127.0.0.1:{demo_ack_port}/"
        sign_in_overrides, sign_in = prepare_sign_in(settings, demo=demo)
        settings = settings.model_copy(update=overrides | sign_in_overrides)
        assert settings.api_token is not None
        secret_values = (*settings.access_key_values(), *settings.instance_access_key_values())
        mask_secrets(*secret_values, settings.api_token.get_secret_value())  # generated ones too
        write_dev_env(settings)
        async with serving_sign_in_demo(sign_in, settings):
            return await _run_components(
                settings,
                demo=demo,
                demo_tenants=demo_tenants,
                demo_instances=demo_instances,
                seed=seed,
                exit_after=exit_after_demo,
                demo_ack_port=demo_ack_port,
                view=view,
                sign_in=sign_in,
            )


def _what_is_not_kept(settings: Settings, data_dir: Path | None) -> list[str]:
    """The first lines of `up`: plainly, what of an accepted call does not survive this process."""
    lines = []
    if settings.kafka_bootstrap_servers is None:
        lines.append(
            f"syncpipe up: the embedded broker keeps calls {where_calls_wait(settings.broker)}: a call answered "
            "000000 and not yet applied is gone when this process stops or is killed "
            "(KAFKA_BOOTSTRAP_SERVERS: a real broker)"
        )
    if settings.database_url is None and data_dir is None:
        lines.append(
            "syncpipe up: the embedded Postgres is thrown away: everything applied is gone when this process "
            "stops or is killed (--data-dir DIR keeps it; DATABASE_URL: a real server)"
        )
    elif settings.database_url is None and data_dir is not None:
        lines.append(f"syncpipe up: the embedded Postgres is kept in {data_dir / 'postgres'}")
    return lines


def write_dev_env(settings: Settings) -> None:
    """The generated credentials go to a 0600 file (made so if it existed), never to the terminal or the logs."""
    DEV_ENV_FILE.parent.mkdir(exist_ok=True)
    assert settings.database_url is not None
    assert settings.api_token is not None
    lines = {
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers or "",
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "SYNCPIPE_ACCESS_KEYS": ",".join(settings.access_key_values()),
        "SYNCPIPE_INSTANCE_ACCESS_KEYS": ",".join(settings.instance_access_key_values()),
        "SYNCPIPE_API_TOKEN": settings.api_token.get_secret_value(),
        "SYNCPIPE_GATEWAY_PORT": str(settings.gateway_port),
        "SYNCPIPE_API_PORT": str(settings.api_port),
        "SYNCPIPE_SIGNIN_PORT": str(settings.signin_port),
    }
    if settings.app_private_key is not None:
        lines["SYNCPIPE_APP_PRIVATE_KEY"] = str(settings.app_private_key.resolve())
    # The mode of os.open applies only to a file it creates: one left by an earlier run (or made by
    # hand) keeps its own, so it is set every time, before a secret is written. Not through a symlink.
    descriptor = os.open(DEV_ENV_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w") as env_file:
        os.fchmod(descriptor, 0o600)
        env_file.writelines(f"export {name}={value}\n" for name, value in lines.items())


async def _run_components(
    settings: Settings,
    *,
    demo: bool,
    demo_tenants: int,
    demo_instances: int,
    seed: int,
    exit_after: bool,
    demo_ack_port: int | None,
    view: StatusView,
    sign_in: SignInDemo,
) -> int:
    _say = view.say
    stop = asyncio.Event()
    install_stop_signals(stop)
    # Sign-in decrypts the apps' client secrets: without the merchant's key it has nothing to sign in with.
    signs_in = settings.app_private_key is not None
    names = ("gateway", "worker", "api", "acker", "ops", *(("signin",) if signs_in else ()))
    readiness = {name: asyncio.Event() for name in names}
    # One process, one registry: every /metrics of `up` (gateway, API, ops port) shows all of it.
    metrics = Metrics(REGISTRY)
    components: dict[str, Coroutine[Any, Any, None]] = {
        "gateway": serve_gateway(settings, readiness["gateway"], metrics=metrics),
        "worker": serve_worker(settings, readiness["worker"], stop, metrics=WorkerMetrics(metrics)),
        "api": serve_api(settings, readiness["api"], metrics=metrics),
        "acker": serve_acker(settings, readiness["acker"], stop, metrics=AckerMetrics(metrics)),
        "ops": _serve_ops(settings, metrics, readiness),
    }
    if signs_in:
        components["signin"] = serve_signin(settings, readiness["signin"], metrics=metrics)
    tasks = {name: asyncio.create_task(coroutine, name=name) for name, coroutine in components.items()}
    demo_state: list[str] = []
    view_stop = asyncio.Event()

    async def sample() -> Status:
        await metrics.exposition()  # refreshes the gauges (outbox, lag) as a scrape would
        health = {name: _health(tasks[name], readiness[name]) for name in names if name != "ops"}
        return read_status(metrics.registry, health, demo_state[-1] if demo_state else None)

    view_task = asyncio.create_task(view.run(sample, view_stop), name="view")
    exit_code = 0
    try:
        failed = await _all_ready(tasks, readiness)
        if failed:
            _say(f"syncpipe could not start: {failed}")
            return 1
        gateway_url, api_url, signin_url = _say_where(settings, _say, signs_in=signs_in, sign_in=sign_in)
        if demo:
            demo_state.append(
                f"the platform simulator plays {demo_tenants} tenants, shuffled and partly re-sent,"
                f" and the order lifecycle of {demo_instances} instances"
            )
            report = await play_marketplace(
                settings,
                gateway_url,
                api_url,
                tenants=demo_tenants,
                instances=demo_instances,
                seed=seed,
                ack_port=demo_ack_port,
                sign_in=sign_in,
            )
            demo_state.append("done: " + ("simulation OK" if report.ok else "simulation FAILED"))
            view_stop.set()
            await view_task
            _say(report.render())
            exit_code = 0 if report.ok else 1
            if report.ok and signs_in:
                lines = await sign_in_once(settings, api_url, signin_url, tenants=demo_tenants, seed=seed)
                for line in lines:
                    _say(line)
                exit_code = 0 if lines[-1].startswith("sign-in check OK") else 1
            if exit_after:
                stop.set()
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([waiter, *tasks.values()], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        for name, task in tasks.items():
            if task.done() and not task.cancelled() and task.exception():
                log.error("%s stopped: %r", name, task.exception())
                exit_code = 1
    finally:
        view_stop.set()
        await asyncio.gather(view_task, return_exceptions=True)
        _say("stopping...")
        await _stop_components(tasks, stop, settings)
    return exit_code


def _say_where(
    settings: Settings, say: Callable[[str], None], *, signs_in: bool, sign_in: SignInDemo
) -> tuple[str, str, str]:
    """Where each component answers, then the ready line; returns the gateway's, the API's and the
    sign-in service's URLs."""
    gateway_url = f"http://{settings.gateway_host}:{settings.gateway_port}"
    api_url = f"http://{settings.api_host}:{settings.api_port}"
    signin_url = (settings.signin_public_url or f"http://{settings.signin_host}:{settings.signin_port}").rstrip("/")
    base = settings.gateway_base_path.rstrip("/")
    say(f"  gateway   {gateway_url}{base}/produceAPI/v2/{{interface}}, instance calls at {gateway_url}{base or '/'}")
    say(f"  read API  {api_url}/v1/tenants/{{tenantId}}  (bearer token in {DEV_ENV_FILE})")
    say(f"  console   {api_url}/console/  (sign in with that token)")
    if signs_in:
        say(f"  sign-in   {signin_url}/signin/login/{{appId}}  (assertion keys: {signin_url}/signin/jwks.json)")
    else:
        say("  sign-in   off: set SYNCPIPE_APP_PRIVATE_KEY (the key the apps' client secrets are sealed for)")
    if sign_in.application is not None:
        say(f"  app       {sign_in.application.landing_url}  (the merchant's demo application: sign-ins land here)")
    if settings.worker_ops_port:
        ops_url = f"http://{settings.ops_host}:{settings.worker_ops_port}"
        say(f"  ops       {ops_url}/metrics, /readyz  (worker and acker; gateway and API on their ports)")
    say(f"  credentials for this run: source {DEV_ENV_FILE}")
    say("syncpipe is ready (Ctrl-C stops everything)")
    return gateway_url, api_url, signin_url


async def _stop_components(tasks: dict[str, asyncio.Task[None]], stop: asyncio.Event, settings: Settings) -> None:
    stop.set()  # the worker finishes its batch and commits
    for name, task in tasks.items():
        if name not in ("worker", "acker"):
            task.cancel()
    # The acker may wait out one ack request (SYNCPIPE_ACK_TIMEOUT_S) before it stops.
    await asyncio.wait(tasks.values(), timeout=GRACEFUL_STOP_S + settings.ack_timeout_s)
    for task in tasks.values():
        task.cancel()
    await asyncio.gather(*tasks.values(), return_exceptions=True)


async def _serve_ops(settings: Settings, metrics: Metrics, readiness: dict[str, asyncio.Event]) -> None:
    """The ops endpoint of the in-process worker and acker, on the worker's ops port, until cancelled.

    The components count as started once they said ready; one that dies ends `up` altogether."""
    components = {name: started(readiness[name]) for name in ("worker", "acker")}
    async with ops_endpoint(settings, settings.worker_ops_port, metrics, components, postgres=True, kafka=True):
        readiness["ops"].set()
        await asyncio.Event().wait()


async def _all_ready(tasks: dict[str, asyncio.Task[None]], readiness: dict[str, asyncio.Event]) -> str | None:
    """Wait until every component said ready; as soon as one of them died instead, what happened."""
    waiters: list[asyncio.Task[Any]] = [asyncio.create_task(event.wait()) for event in readiness.values()]
    try:
        while not all(waiter.done() for waiter in waiters):
            watched: list[asyncio.Task[Any]] = [*waiters, *tasks.values()]
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            for name, task in tasks.items():
                if task.done():
                    error = task.exception() if not task.cancelled() else None
                    log.error("%s failed to start: %r", name, error)
                    return f"{name} failed to start: {error!r}"
        return None
    finally:
        for waiter in waiters:
            waiter.cancel()


def _health(task: asyncio.Task[None], ready: asyncio.Event) -> str:
    if task.done():
        return "stopped"
    return "ok" if ready.is_set() else "starting"
