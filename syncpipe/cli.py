"""`syncpipe`: the command line. Each command reads the settings once and hands them down."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import ValidationError

from runtime.logs import configure_logging, mask_secrets
from runtime.processes import tune_garbage_collector
from runtime.secret_strength import WeakSecret, check_secrets
from runtime.settings import Settings

if TYPE_CHECKING:
    from runtime.ops_server import Metrics

log = logging.getLogger("syncpipe")

# Run by a person at a terminal: their logs are text. The services log JSON lines for a collector.
_INTERACTIVE_COMMANDS = frozenset({"up", "simulate", "replay", "rebuild", "dlq", "events"})
# The secrets each command serves with, checked for strength at start (runtime.secret_strength).
_SECRETS_USED: dict[str, dict[str, bool]] = {
    "up": {"access_keys": True, "api_token": True},  # those configured; up generates the others
    "gateway": {"access_keys": True},
    "acker": {"access_keys": True},  # signs the acks
    "api": {"api_token": True},
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="syncpipe", description=__doc__)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument(
        "--log-format",
        choices=["json", "text"],
        help="log lines on stderr: JSON (the services' default) or text (default of up, simulate, recovery commands)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="run the whole pipeline on embedded (or configured) services")
    up.add_argument("--demo", action="store_true", help="feed it from the platform simulator once ready")
    up.add_argument("--demo-tenants", type=int, default=200, help="tenants the demo simulates (default 200)")
    up.add_argument("--seed", type=int, default=1, help="simulation seed for the demo")
    up.add_argument("--exit-after-demo", action="store_true", help="stop once the demo report is printed")
    up.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="keep the embedded Postgres in DIR/postgres across runs (default: a throwaway one, gone at stop)",
    )

    commands.add_parser("gateway", help="run the HTTP gateway (calls -> Kafka); scale out by running several")
    commands.add_parser("worker", help="run one applier (Kafka -> Postgres); several share the consumer group")
    commands.add_parser("api", help="run the read API")
    commands.add_parser("acker", help="send acknowledgements of finished events to SYNCPIPE_ACK_URL")
    commands.add_parser("migrate", help="apply the Postgres migrations and exit")

    from syncpipe.simulation.command import add_arguments as add_simulate_arguments

    simulate = commands.add_parser("simulate", help="play the marketplace against a running pipeline and check it")
    add_simulate_arguments(simulate)

    from syncpipe.recovery.arguments import add_commands as add_recovery_commands

    add_recovery_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tune_garbage_collector()
    log_format = args.log_format or ("text" if args.command in _INTERACTIVE_COMMANDS else "json")
    configure_logging(args.log_level, json=log_format == "json")
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"syncpipe: bad configuration:\n{exc}", file=sys.stderr)
        return 2
    mask_secrets(*_secret_values(settings))
    try:
        check_secrets(settings, **_SECRETS_USED.get(args.command, {}))
    except WeakSecret as exc:
        print("".join(f"syncpipe {args.command}: {line}\n" for line in str(exc).splitlines()), end="", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_dispatch(args, settings))
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from runtime.processes import run_until_stopped

    match args.command:
        case "up":
            from syncpipe.bootstrap import run_up

            return await run_up(
                settings,
                demo=args.demo,
                demo_tenants=args.demo_tenants,
                seed=args.seed,
                exit_after_demo=args.exit_after_demo,
                data_dir=args.data_dir.resolve() if args.data_dir else None,
            )
        case "gateway":
            from gateway.app import serve_gateway

            serve = functools.partial(serve_gateway, metrics=_process_metrics())
            await run_until_stopped("gateway", serve, _require_kafka(settings))
        case "worker":
            await _run_worker(_require_kafka(settings))
        case "api":
            from read_api import serve_api

            await run_until_stopped("api", functools.partial(serve_api, metrics=_process_metrics()), settings)
        case "acker":
            await _run_acker(settings)
        case "migrate":
            from runtime.postgres.migrate import migrate_url

            if settings.database_url is None:
                print("syncpipe migrate: DATABASE_URL is not set", file=sys.stderr)
                return 2
            applied = await migrate_url(settings.database_url.get_secret_value())
            print(f"applied {len(applied)} migrations" + "".join(f"\n  {m.version:04d}_{m.name}" for m in applied))
        case "simulate":
            from syncpipe.simulation.command import run_from_args

            return await run_from_args(args, settings)
        case "replay" | "rebuild" | "dlq" | "events":
            from syncpipe.recovery.commands import run as run_recovery

            return await run_recovery(args, settings)
    return 0


def _secret_values(settings: Settings) -> list[str]:
    """What no log line may show: the access keys, the API token, the database password."""
    values = settings.access_key_values()
    if settings.api_token is not None:
        values.append(settings.api_token.get_secret_value())
    if settings.database_url is not None:
        password = urlsplit(settings.database_url.get_secret_value()).password
        if password:
            values.append(password)
    return values


def _require_kafka(settings: Settings) -> Settings:
    if settings.kafka_bootstrap_servers is None:
        raise SystemExit("syncpipe: KAFKA_BOOTSTRAP_SERVERS is not set (only `syncpipe up` starts a broker)")
    return settings


async def _run_worker(settings: Settings) -> None:
    """SIGTERM/SIGINT: finish the batch in hand, commit it, leave the group, exit."""
    from runtime.ops_server import ops_endpoint, started
    from runtime.processes import install_stop_signals
    from workers.applier.metrics import WorkerMetrics
    from workers.applier.service import serve_worker

    stop = asyncio.Event()
    install_stop_signals(stop)
    metrics, ready = _process_metrics(), asyncio.Event()
    port = settings.worker_ops_port
    async with ops_endpoint(settings, port, metrics, {"worker": started(ready)}, postgres=True, kafka=True):
        await serve_worker(settings, ready, stop, metrics=WorkerMetrics(metrics))


async def _run_acker(settings: Settings) -> None:
    """SIGTERM/SIGINT: finish the requests in flight, record them, exit."""
    from runtime.ops_server import ops_endpoint, started
    from runtime.processes import install_stop_signals
    from workers.acks.metrics import AckerMetrics
    from workers.acks.service import serve_acker

    stop = asyncio.Event()
    install_stop_signals(stop)
    metrics, ready = _process_metrics(), asyncio.Event()
    port = settings.acker_ops_port
    async with ops_endpoint(settings, port, metrics, {"acker": started(ready)}, postgres=True, kafka=False):
        await serve_acker(settings, ready, stop, metrics=AckerMetrics(metrics))


def _process_metrics() -> Metrics:
    """The process's one Metrics: Prometheus' default registry, with its process and GC collectors."""
    from prometheus_client import REGISTRY

    from runtime.ops_server import Metrics

    return Metrics(REGISTRY)


if __name__ == "__main__":
    sys.exit(main())
