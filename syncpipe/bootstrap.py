"""`syncpipe up`: the whole pipeline in one command, on embedded services unless configured.

Starts what is not configured (a Tansu broker for KAFKA_BOOTSTRAP_SERVERS, a throwaway Postgres
for DATABASE_URL, or one kept in `--data-dir`, an access key and an API token), runs the gateway, a
worker and the read API in this process, prints where they are and a `ready` line once each one
answers, optionally feeds the platform simulator in, and stops everything on Ctrl-C / SIGTERM.

Its first lines say what it does not keep: the embedded broker holds calls in memory and the
throwaway Postgres is deleted, so a call answered 000000 does not survive the process. Folders that
runs killed before they could clean up left in the temp directory are removed at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import Coroutine
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
from syncpipe.embedded import EmbeddedKafka, EmbeddedPostgres
from syncpipe.embedded.process import free_port
from syncpipe.embedded.run_dirs import remove_dead_run_dirs
from syncpipe.simulation.config import SimulationConfig
from syncpipe.simulation.runner import simulate
from workers.acks.metrics import AckerMetrics
from workers.acks.service import serve_acker
from workers.applier.metrics import WorkerMetrics
from workers.applier.service import serve_worker

log = logging.getLogger(__name__)

DEV_ENV_FILE = Path(".syncpipe/dev.env")


def _say(line: str) -> None:
    print(line, flush=True)


async def run_up(
    settings: Settings,
    *,
    demo: bool,
    demo_tenants: int,
    seed: int,
    exit_after_demo: bool,
    data_dir: Path | None = None,
) -> int:
    """Run everything until stopped; `data_dir` keeps the embedded services' data there (Postgres in
    `<data_dir>/postgres`; the broker gets `<data_dir>/kafka`, which the in-memory one keeps nothing in)."""
    for line in _what_is_not_kept(settings, data_dir):
        _say(line)
    removed = remove_dead_run_dirs()
    if removed:
        log.info("removed %d folders left in the temp directory by runs that died", len(removed))
    with contextlib.ExitStack() as services:
        overrides: dict[str, Any] = {}
        if settings.kafka_bootstrap_servers is None:
            kafka = services.enter_context(EmbeddedKafka(log_dir=data_dir / "kafka" if data_dir else None))
            overrides["kafka_bootstrap_servers"] = kafka.bootstrap_servers
            kept = "keeps its records" if kafka.KEEPS_RECORDS else "in memory"
            _say(f"  kafka     {kafka.bootstrap_servers}  (embedded Tansu broker, {kept})")
        if settings.database_url is None:
            postgres = services.enter_context(EmbeddedPostgres(data_dir=data_dir / "postgres" if data_dir else None))
            overrides["database_url"] = SecretStr(postgres.dsn)
            kept = "throwaway" if data_dir is None else f"kept in {data_dir / 'postgres'}"
            _say(f"  postgres  {postgres.dsn}  (embedded, {kept})")
        if not settings.access_keys:
            overrides["access_keys"] = (SecretStr(secrets.token_urlsafe(24)),)
        if settings.api_token is None:
            overrides["api_token"] = SecretStr(secrets.token_urlsafe(24))
        demo_ack_port = None
        if demo and settings.ack_url is None:
            # The simulator plays the platform's ack callback too: the acker sends to it.
            demo_ack_port = free_port()
            overrides["ack_url"] = f"http://127.0.0.1:{demo_ack_port}/"
        settings = settings.model_copy(update=overrides)
        assert settings.api_token is not None
        mask_secrets(*settings.access_key_values(), settings.api_token.get_secret_value())  # generated ones too
        write_dev_env(settings)
        return await _run_components(
            settings,
            demo=demo,
            demo_tenants=demo_tenants,
            seed=seed,
            exit_after=exit_after_demo,
            demo_ack_port=demo_ack_port,
        )


def _what_is_not_kept(settings: Settings, data_dir: Path | None) -> list[str]:
    """The first lines of `up`: plainly, what of an accepted call does not survive this process."""
    lines = []
    if settings.kafka_bootstrap_servers is None and not EmbeddedKafka.KEEPS_RECORDS:
        lines.append(
            "syncpipe up: the embedded broker keeps calls in memory: a call answered 000000 and not yet applied "
            "is gone when this process stops or is killed (KAFKA_BOOTSTRAP_SERVERS: a real broker)"
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
        "SYNCPIPE_API_TOKEN": settings.api_token.get_secret_value(),
        "SYNCPIPE_GATEWAY_PORT": str(settings.gateway_port),
        "SYNCPIPE_API_PORT": str(settings.api_port),
    }
    # The mode of os.open applies only to a file it creates: one left by an earlier run (or made by
    # hand) keeps its own, so it is set every time, before a secret is written. Not through a symlink.
    descriptor = os.open(DEV_ENV_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w") as env_file:
        os.fchmod(descriptor, 0o600)
        env_file.writelines(f"export {name}={value}\n" for name, value in lines.items())


async def _run_components(
    settings: Settings, *, demo: bool, demo_tenants: int, seed: int, exit_after: bool, demo_ack_port: int | None
) -> int:
    stop = asyncio.Event()
    install_stop_signals(stop)
    readiness = {name: asyncio.Event() for name in ("gateway", "worker", "api", "acker", "ops")}
    # One process, one registry: every /metrics of `up` (gateway, API, ops port) shows all of it.
    metrics = Metrics(REGISTRY)
    components: dict[str, Coroutine[Any, Any, None]] = {
        "gateway": serve_gateway(settings, readiness["gateway"], metrics=metrics),
        "worker": serve_worker(settings, readiness["worker"], stop, metrics=WorkerMetrics(metrics)),
        "api": serve_api(settings, readiness["api"], metrics=metrics),
        "acker": serve_acker(settings, readiness["acker"], stop, metrics=AckerMetrics(metrics)),
        "ops": _serve_ops(settings, metrics, readiness),
    }
    tasks = {name: asyncio.create_task(coroutine, name=name) for name, coroutine in components.items()}
    exit_code = 0
    try:
        if not await _all_ready(tasks, readiness):
            return 1
        gateway_url = f"http://{settings.gateway_host}:{settings.gateway_port}"
        api_url = f"http://{settings.api_host}:{settings.api_port}"
        _say(f"  gateway   {gateway_url}/produceAPI/v2/{{interface}}")
        _say(f"  read API  {api_url}/v1/tenants/{{tenantId}}  (bearer token in {DEV_ENV_FILE})")
        _say(f"  console   {api_url}/console/  (sign in with that token)")
        if settings.worker_ops_port:
            ops_url = f"http://{settings.ops_host}:{settings.worker_ops_port}"
            _say(f"  ops       {ops_url}/metrics, /readyz  (worker and acker; gateway and API on their ports)")
        _say(f"  credentials for this run: source {DEV_ENV_FILE}")
        _say("syncpipe is ready (Ctrl-C stops everything)")
        if demo:
            exit_code = await _demo(
                settings, gateway_url, api_url, tenants=demo_tenants, seed=seed, ack_port=demo_ack_port
            )
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
        _say("stopping...")
        stop.set()  # the worker finishes its batch and commits
        for name, task in tasks.items():
            if name not in ("worker", "acker"):
                task.cancel()
        # The acker may wait out one ack request (SYNCPIPE_ACK_TIMEOUT_S) before it stops.
        await asyncio.wait(tasks.values(), timeout=GRACEFUL_STOP_S + settings.ack_timeout_s)
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    return exit_code


async def _serve_ops(settings: Settings, metrics: Metrics, readiness: dict[str, asyncio.Event]) -> None:
    """The ops endpoint of the in-process worker and acker, on the worker's ops port, until cancelled.

    The components count as started once they said ready; one that dies ends `up` altogether."""
    components = {name: started(readiness[name]) for name in ("worker", "acker")}
    async with ops_endpoint(settings, settings.worker_ops_port, metrics, components, postgres=True, kafka=True):
        readiness["ops"].set()
        await asyncio.Event().wait()


async def _all_ready(tasks: dict[str, asyncio.Task[None]], readiness: dict[str, asyncio.Event]) -> bool:
    """Wait until every component said ready; False as soon as one of them died instead."""
    waiters: list[asyncio.Task[Any]] = [asyncio.create_task(event.wait()) for event in readiness.values()]
    try:
        while not all(waiter.done() for waiter in waiters):
            watched: list[asyncio.Task[Any]] = [*waiters, *tasks.values()]
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            for name, task in tasks.items():
                if task.done():
                    error = task.exception() if not task.cancelled() else None
                    log.error("%s failed to start: %r", name, error)
                    return False
        return True
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _demo(
    settings: Settings, gateway_url: str, api_url: str, *, tenants: int, seed: int, ack_port: int | None
) -> int:
    assert settings.api_token is not None
    _say(f"demo: the platform simulator sends the calls of {tenants} tenants, shuffled and partly re-sent...")
    report = await simulate(
        SimulationConfig(
            gateway_url=gateway_url,
            api_url=api_url,
            access_key=settings.access_keys[0],
            api_token=settings.api_token,
            tenants=tenants,
            seed=seed,
            client_secret_key=settings.app_private_key,
            ack_port=ack_port,
        )
    )
    _say(report.render())
    return 0 if report.ok else 1
