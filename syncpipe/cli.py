"""`syncpipe`: the command line. Each command reads the settings once and hands them down."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, get_args
from urllib.parse import urlsplit

from pydantic import ValidationError

from runtime.environment import describe, listed, unknown_variables
from runtime.logs import configure_logging, mask_secrets
from runtime.processes import tune_garbage_collector
from runtime.secret_strength import WeakSecret, check_secrets
from runtime.settings import BrokerName, Settings

if TYPE_CHECKING:
    from runtime.ops_server import Metrics
    from syncpipe.status_view import StatusView

log = logging.getLogger("syncpipe")

# `syncpipe up` writes its components' logs here (unless --verbose), one file each.
UP_LOG_DIRECTORY = Path(".syncpipe/logs")
# The processes that handle calls: each may export spans when the OTEL_* variables ask for it.
_TRACED_COMMANDS = frozenset({"up", "gateway", "worker", "acker"})
# Run by a person at a terminal: their logs are text. The services log JSON lines for a collector.
_INTERACTIVE_COMMANDS = frozenset({"up", "simulate", "replay", "rebuild", "dlq", "events", "retention"})
# The secrets each command serves with, checked for strength at start (runtime.secret_strength).
_SECRETS_USED: dict[str, dict[str, bool]] = {
    "up": {"access_keys": True, "instance_access_keys": True, "api_token": True},  # configured ones; up makes the rest
    "gateway": {"access_keys": True, "instance_access_keys": True},
    "acker": {"access_keys": True},  # signs the acks
    "api": {"api_token": True},
}


# What each command reads from the environment (names of `Settings` fields), listed by its --help.
_TOPICS = (
    "events_topic",
    "dead_letter_topic",
    "topic_partitions",
    "topic_replication_factor",
    "topic_min_insync_replicas",
    "topic_retention_ms",
    "max_record_bytes",
)
_OPS = ("ops_host", "http_keepalive_timeout_s")
_RETENTION = ("retention_events_days", "retention_sent_acks_hours", "retention_dead_letters_days")
READS: dict[str, tuple[str, ...]] = {
    "gateway": (
        "kafka_bootstrap_servers",
        *_TOPICS,
        "gateway_host",
        "gateway_port",
        "access_keys",
        "access_keys_file",
        "signature_window_s",
        "gateway_nonce_capacity",
        "app_private_key",
        "max_body_bytes",
        "max_full_sync_bytes",
        "gateway_max_in_flight_bytes",
        "gateway_max_unverified_bytes_per_client",
        "gateway_parse_processes",
        "produce_timeout_s",
        "producer_idempotence",
        "http_keepalive_timeout_s",
        "gateway_base_path",
        "instance_access_keys",
        "instance_access_keys_file",
        "database_url",
        "instance_lookup_timeout_s",
    ),
    "worker": (
        "kafka_bootstrap_servers",
        "database_url",
        *_TOPICS,
        "consumer_group",
        "batch_max_records",
        "apply_connections",
        "max_attempts",
        "session_timeout_ms",
        "max_poll_interval_ms",
        "retry_backoff_first_s",
        "retry_backoff_cap_s",
        "produce_timeout_s",
        "instance_ready_url_template",
        *_RETENTION,
        "retention_interval_s",
        *_OPS,
        "worker_ops_port",
    ),
    "api": (
        "database_url",
        "api_host",
        "api_port",
        "api_token",
        "api_token_file",
        "http_keepalive_timeout_s",
        "instance_ready_url_template",
    ),
    "acker": (
        "database_url",
        "access_keys",
        "access_keys_file",
        "ack_url",
        "ack_timeout_s",
        "ack_max_in_flight",
        "ack_retry_first_s",
        "ack_retry_cap_s",
        "ack_listen",
        "ack_poll_interval_s",
        *_OPS,
        "acker_ops_port",
    ),
    "signin": (
        "database_url",
        "app_private_key",
        "signin_host",
        "signin_port",
        "signin_public_url",
        "signin_login_url",
        "signin_app_url",
        "signin_logout_redirect_url",
        "signin_signing_keys",
        "signin_cookie_key",
        "signin_assertion_ttl_s",
        "signin_login_ttl_s",
        "signin_platform_timeout_s",
        "http_keepalive_timeout_s",
    ),
    "migrate": ("database_url",),
    "simulate": (
        "access_keys",
        "access_keys_file",
        "api_token",
        "api_token_file",
        "gateway_host",
        "gateway_port",
        "api_host",
        "api_port",
        "app_private_key",
        "instance_access_keys",
        "instance_access_keys_file",
        "gateway_base_path",
        # --identity-port: the sign-in service's callback, where the simulated platform redirects.
        "signin_public_url",
        "signin_host",
        "signin_port",
    ),
    "replay": (
        "database_url",
        "kafka_bootstrap_servers",
        *_TOPICS,
        "produce_timeout_s",
        "max_attempts",
        "instance_ready_url_template",
    ),
    "rebuild": ("database_url",),
    "retention": ("database_url", *_RETENTION),
    "dlq": ("database_url", "instance_ready_url_template"),
    "events": ("database_url",),
    "up": tuple(Settings.model_fields),  # it runs every component, and chooses the embedded broker
}
# What a command cannot start without: (field names of which one must be set, how to say it).
REQUIRES: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    "gateway": (
        (("kafka_bootstrap_servers",), "KAFKA_BOOTSTRAP_SERVERS is not set (only `syncpipe up` starts a broker)"),
        (("access_keys", "access_keys_file"), "SYNCPIPE_ACCESS_KEYS (or SYNCPIPE_ACCESS_KEYS_FILE) is not set"),
    ),
    "worker": (
        (("kafka_bootstrap_servers",), "KAFKA_BOOTSTRAP_SERVERS is not set (only `syncpipe up` starts a broker)"),
        (("database_url",), "DATABASE_URL is not set"),
    ),
    "api": (
        (("database_url",), "DATABASE_URL is not set"),
        (("api_token", "api_token_file"), "SYNCPIPE_API_TOKEN (or SYNCPIPE_API_TOKEN_FILE) is not set"),
    ),
    "acker": ((("database_url",), "DATABASE_URL is not set"),),
    "signin": (
        (("database_url",), "DATABASE_URL is not set"),
        (("signin_app_url",), "SYNCPIPE_SIGNIN_APP_URL is not set (where signed-in people are sent)"),
    ),
    "migrate": ((("database_url",), "DATABASE_URL is not set"),),
    "retention": ((("database_url",), "DATABASE_URL is not set"),),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="syncpipe", description=__doc__)
    parser.add_argument("--version", action="version", version=f"syncpipe {metadata.version('syncpipe')}")
    _add_global_options(parser, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser(
        "up",
        help="run the whole pipeline on embedded (or configured) services",
        description="Run the gateway, a worker, an acker and the read API in one process, on an embedded "
        "broker and Postgres unless KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL point elsewhere.",
    )
    up.add_argument("--demo", action="store_true", help="feed it from the platform simulator once ready")
    up.add_argument("--demo-tenants", type=int, default=200, help="tenants the demo simulates (default 200)")
    up.add_argument(
        "--demo-instances", type=int, default=200, help="instances whose order lifecycle the demo plays (default 200)"
    )
    up.add_argument("--seed", type=int, default=1, help="simulation seed for the demo")
    up.add_argument("--exit-after-demo", action="store_true", help="stop once the demo report is printed")
    up.add_argument(
        "--verbose",
        action="store_true",
        help="the components' log stream on stderr instead of a status view and log files (.syncpipe/logs/)",
    )
    up.add_argument(
        "--broker",
        choices=get_args(BrokerName),
        help="the embedded broker, when KAFKA_BOOTSTRAP_SERVERS is unset (default: SYNCPIPE_BROKER, else tansu)",
    )
    up.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="keep the embedded Postgres in DIR/postgres across runs (default: a throwaway one, gone at stop)",
    )

    for name, help_text in (
        ("gateway", "run the HTTP gateway (calls -> Kafka); scale out by running several"),
        ("worker", "run one applier (Kafka -> Postgres); several share the consumer group"),
        ("api", "run the read API and the operator console"),
        ("acker", "send acknowledgements of finished events to SYNCPIPE_ACK_URL"),
        ("signin", "run the sign-in service: the platform's users sign in to the merchant's app"),
        ("migrate", "apply the Postgres migrations, create partitions ahead, and exit"),
    ):
        commands.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".")

    from syncpipe.retention import add_arguments as add_retention_arguments

    retention_help = "create partitions ahead and prune history once, then exit"
    retention = commands.add_parser("retention", help=retention_help, description=retention_help.capitalize() + ".")
    add_retention_arguments(retention)

    from syncpipe.simulation.command import add_arguments as add_simulate_arguments

    simulate_help = "play the marketplace against a running pipeline and check it"
    simulate = commands.add_parser("simulate", help=simulate_help, description=simulate_help.capitalize() + ".")
    add_simulate_arguments(simulate)

    from syncpipe.recovery.arguments import add_commands as add_recovery_commands

    add_recovery_commands(commands)
    for name, command in commands.choices.items():
        for each in _with_subcommands(command):
            if name in READS:  # `dlq list --help` too: a subcommand reads what its command reads
                each.epilog = "\n".join(filter(None, [each.epilog, f"environment: {listed(READS[name])}"]))
            _add_global_options(each, argparse.SUPPRESS)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, default: str | None) -> None:
    """--log-level and --log-format, accepted before the command and after it (`worker --log-level DEBUG`)."""
    parser.add_argument("--log-level", default=default, choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument(
        "--log-format",
        default=default,
        choices=["json", "text"],
        help="log lines on stderr: JSON (the services' default) or text (default of up, simulate, recovery commands)",
    )


def _with_subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _with_subcommands(child)
    return found


def _missing(command: str, settings: Settings) -> list[str]:
    return [
        message
        for fields, message in REQUIRES.get(command, ())
        if not any(getattr(settings, field) for field in fields)
    ]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tune_garbage_collector()
    log_level = getattr(args, "log_level", None) or "INFO"
    log_format = getattr(args, "log_format", None) or ("text" if args.command in _INTERACTIVE_COMMANDS else "json")
    log_files, args.log_paths = None, None
    if args.command == "up" and not args.verbose:
        from syncpipe.component_logs import ComponentFiles

        log_files = ComponentFiles(UP_LOG_DIRECTORY)
        configure_logging(log_level, handler=log_files)
        args.log_paths = log_files.paths
    else:
        configure_logging(log_level, json=log_format == "json")
    for name in unknown_variables(os.environ):
        message = f"{name} is set but no setting has that name: a typo? (its value is not read)"
        log.warning(message)
        if log_files is not None:
            print(f"syncpipe up: {message}", file=sys.stderr)
    try:
        settings = Settings()
    except ValidationError as exc:
        for line in describe(exc):
            print(f"syncpipe {args.command}: {line}", file=sys.stderr)
        return 2
    missing = [] if args.command == "up" else _missing(args.command, settings)
    for line in missing:
        print(f"syncpipe {args.command}: {line}", file=sys.stderr)
    if missing:
        return 2
    mask_secrets(*_secret_values(settings))
    if args.command in _TRACED_COMMANDS:
        from runtime.tracing import configure_tracing

        configure_tracing(args.command)
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
                settings.model_copy(update={"broker": args.broker}) if args.broker else settings,
                demo=args.demo,
                demo_tenants=args.demo_tenants,
                demo_instances=args.demo_instances,
                seed=args.seed,
                exit_after_demo=args.exit_after_demo,
                view=_status_view(args.verbose),
                logs=args.log_paths,
                data_dir=args.data_dir.resolve() if args.data_dir else None,
            )
        case "gateway":
            from gateway.app import serve_gateway
            from gateway.errors import GatewayNotConfigured

            serve = functools.partial(serve_gateway, metrics=_process_metrics())
            try:
                await run_until_stopped("gateway", serve, settings)
            except GatewayNotConfigured as exc:
                return _not_configured(args.command, exc)
        case "worker":
            await _run_worker(settings)
        case "api":
            from read_api import serve_api
            from read_api.exceptions import ApiNotConfigured

            try:
                await run_until_stopped("api", functools.partial(serve_api, metrics=_process_metrics()), settings)
            except ApiNotConfigured as exc:
                return _not_configured(args.command, exc)
        case "acker":
            from workers.acks.errors import AckerNotConfigured

            try:
                await _run_acker(settings)
            except AckerNotConfigured as exc:
                return _not_configured(args.command, exc)
        case "signin":
            from signin import serve_signin
            from signin.exceptions import SignInNotConfigured

            try:
                await run_until_stopped("signin", functools.partial(serve_signin, metrics=_process_metrics()), settings)
            except SignInNotConfigured as exc:
                return _not_configured(args.command, exc)
        case "migrate":
            from runtime.postgres.migrate import migrate_url

            assert settings.database_url is not None  # REQUIRES
            applied = await migrate_url(settings.database_url.get_secret_value(), partitions_ahead=True)
            print(f"applied {len(applied)} migrations" + "".join(f"\n  {m.version:04d}_{m.name}" for m in applied))
        case "retention":
            from syncpipe.retention import run as run_retention

            return await run_retention(args, settings)
        case "simulate":
            from syncpipe.simulation.command import run_from_args

            return await run_from_args(args, settings)
        case "replay" | "rebuild" | "dlq" | "events":
            from syncpipe.recovery.commands import run as run_recovery

            return await run_recovery(args, settings)
    return 0


def _not_configured(command: str, error: Exception) -> int:
    """A setting a service found missing or unusable as it started: one line (its message names the
    variable, never its value), exit 2, as for the settings checked before it starts."""
    print(f"syncpipe {command}: {error}", file=sys.stderr)
    return 2


def _status_view(verbose: bool) -> StatusView:
    """A live area in a terminal; plain lines on a pipe or a dumb terminal; `--verbose`: lines as they come."""
    from syncpipe.status_view import LiveView, PlainView, StreamView

    if verbose:
        return StreamView(sys.stdout)
    if sys.stdout.isatty() and os.environ.get("TERM", "dumb") not in ("", "dumb"):
        from rich.console import Console

        return LiveView(Console())
    return PlainView(sys.stdout)


def _secret_values(settings: Settings) -> list[str]:
    """What no log line may show: the access keys (the instance calls' too), the API token, the database password."""
    values = settings.access_key_values() + settings.instance_access_key_values()
    if settings.api_token is not None:
        values.append(settings.api_token.get_secret_value())
    if settings.database_url is not None:
        password = urlsplit(settings.database_url.get_secret_value()).password
        if password:
            values.append(password)
    return values


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
    from workers.acks.service import check_configured, serve_acker

    check_configured(settings)  # before the ops port opens: a missing setting is one line, nothing else
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
