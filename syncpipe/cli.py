"""`syncpipe`: the command line. Each command reads the settings once and hands them down."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from pydantic import ValidationError

from syncpipe.settings import Settings

log = logging.getLogger("syncpipe")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="syncpipe", description=__doc__)
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="run the whole pipeline on embedded (or configured) services")
    up.add_argument("--demo", action="store_true", help="feed it from the platform simulator once ready")
    up.add_argument("--demo-tenants", type=int, default=200, help="tenants the demo simulates (default 200)")
    up.add_argument("--seed", type=int, default=1, help="simulation seed for the demo")
    up.add_argument("--exit-after-demo", action="store_true", help="stop once the demo report is printed")

    commands.add_parser("gateway", help="run the HTTP gateway (calls -> Kafka); scale out by running several")
    commands.add_parser("worker", help="run one applier (Kafka -> Postgres); several share the consumer group")
    commands.add_parser("api", help="run the read API")
    commands.add_parser("acker", help="send acknowledgements of finished events to SYNCPIPE_ACK_URL")
    commands.add_parser("migrate", help="apply the Postgres migrations and exit")

    from syncpipe.simulation.command import add_arguments as add_simulate_arguments

    simulate = commands.add_parser("simulate", help="play the marketplace against a running pipeline and check it")
    add_simulate_arguments(simulate)

    from syncpipe.recovery_cli import add_commands as add_recovery_commands

    add_recovery_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"syncpipe: bad configuration:\n{exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_dispatch(args, settings))
    except KeyboardInterrupt:
        return 130


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from syncpipe.processes import install_stop_signals, run_until_stopped

    match args.command:
        case "up":
            from syncpipe.bootstrap import run_up

            return await run_up(
                settings,
                demo=args.demo,
                demo_tenants=args.demo_tenants,
                seed=args.seed,
                exit_after_demo=args.exit_after_demo,
            )
        case "gateway":
            from gateway.app import serve_gateway

            await run_until_stopped("gateway", serve_gateway, _require_kafka(settings))
        case "worker":
            await _run_worker(_require_kafka(settings))
        case "api":
            from syncpipe.api import serve_api

            await run_until_stopped("api", serve_api, settings)
        case "acker":
            from workers.acks.service import serve_acker

            stop = asyncio.Event()
            install_stop_signals(stop)
            await serve_acker(settings, stop=stop)
        case "migrate":
            from syncpipe.postgres.migrate import migrate_url

            if settings.database_url is None:
                print("syncpipe migrate: DATABASE_URL is not set", file=sys.stderr)
                return 2
            applied = await migrate_url(settings.database_url.get_secret_value())
            print(f"applied {len(applied)} migrations" + "".join(f"\n  {m.version:04d}_{m.name}" for m in applied))
        case "simulate":
            from syncpipe.simulation.command import run_from_args

            return await run_from_args(args, settings)
        case "replay" | "rebuild" | "dlq" | "events":
            from syncpipe.recovery_cli import run as run_recovery

            return await run_recovery(args, settings)
    return 0


def _require_kafka(settings: Settings) -> Settings:
    if settings.kafka_bootstrap_servers is None:
        raise SystemExit("syncpipe: KAFKA_BOOTSTRAP_SERVERS is not set (only `syncpipe up` starts a broker)")
    return settings


async def _run_worker(settings: Settings) -> None:
    """SIGTERM/SIGINT: finish the batch in hand, commit it, leave the group, exit."""
    from syncpipe.processes import install_stop_signals
    from workers.applier.service import serve_worker

    stop = asyncio.Event()
    install_stop_signals(stop)
    await serve_worker(settings, stop=stop)


if __name__ == "__main__":
    sys.exit(main())
