"""docker-compose.yml, .env.example, Dockerfile and .dockerignore, checked by reading them.

No Docker engine runs the tests, so these check what `docker compose up` would otherwise find out late:
a misspelt setting (silently ignored by the settings object), a secret written into a file, a service
that starts before what it needs, a broker that refuses the records the gateway writes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import SecretStr

from runtime.settings import Settings
from runtime.topics import RECORD_OVERHEAD_BYTES
from syncpipe.cli import main

ROOT = Path(__file__).resolve().parents[1]

SERVICES = frozenset({"kafka", "postgres", "migrate", "gateway", "worker", "api", "acker"})
SYNCPIPE_SERVICES = ("migrate", "gateway", "worker", "api", "acker")
LONG_RUNNING = ("kafka", "postgres", "gateway", "worker", "api", "acker")
# Variables of .env that syncpipe never reads: compose or the Postgres image use them.
COMPOSE_ONLY_VARIABLES = frozenset({"POSTGRES_PASSWORD", "APP_PRIVATE_KEY_FILE"})
# Names that hold a secret whatever their type in Settings.
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|DATABASE_URL")
# What the producers add to max_record_bytes for key, headers and batch framing (gateway/publisher.py).
# Docker's default before SIGKILL.
DEFAULT_STOP_GRACE_S = 10.0

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, ${NAME:+alt}
_REFERENCE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


# --- reading the files ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file((ROOT / ".env.example").read_text())


def read_env_file(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            name, separator, value = stripped.partition("=")
            assert separator, f"not NAME=value: {line!r}"
            values[name.strip()] = value.strip()
    return values


def service_env(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {name: "" if value is None else str(value) for name, value in environment.items()}


def resolved_env(service: Mapping[str, Any], dotenv: Mapping[str, str]) -> dict[str, str]:
    """The service's environment as its container sees it when `dotenv` is the .env file."""
    return {name: interpolate(value, dotenv) for name, value in service_env(service).items()}


def strings_in(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from strings_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings_in(value)


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's interpolation, with `variables` standing in for .env. Raises KeyError where `:?` would
    stop compose, and also for a bare `${NAME}` that is unset (compose would substitute "" and warn)."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        present = variables.get(name)
        if op in ("-", ":-"):
            return present if present is not None and (op == "-" or present) else arg
        if op in ("+", ":+"):
            return arg if present is not None and (op == "+" or present) else ""
        if present is None or (op == ":?" and not present):
            raise KeyError(f"{name} is not set")
        return present

    return _REFERENCE.sub(substitute, value)


def duration_s(value: str) -> float:
    parts = _DURATION_PART.findall(value)
    assert "".join(number + unit for number, unit in parts) == value, f"not a compose duration: {value!r}"
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


# --- what Settings accepts --------------------------------------------------------------------


def settings_env_names() -> set[str]:
    """The environment variable of every Settings field: its alias, else env_prefix + field name."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add((alias if isinstance(alias, str) else prefix + name).upper())
    return names


def _mentions(annotation: object, kind: type) -> bool:
    return annotation is kind or any(_mentions(arg, kind) for arg in get_args(annotation))


def secret_env_names() -> set[str]:
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in Settings.model_fields.items():
        if _mentions(field.annotation, SecretStr):
            alias = field.validation_alias
            names.add((alias if isinstance(alias, str) else prefix + name).upper())
    return names


def is_secret(name: str) -> bool:
    return name.upper() in secret_env_names() or bool(_SECRET_NAME.search(name.upper()))


def settings_for(env: Mapping[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings exactly as the container would read them: the test's own environment removed."""
    known = settings_env_names()
    for name in list(os.environ):
        if name.upper() in known:
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings()


# --- the checks, as functions that list what is wrong -----------------------------------------


def unknown_settings(env: Mapping[str, str]) -> list[str]:
    """Variables a syncpipe container is given that no Settings field reads (extra='ignore' hides them)."""
    known = settings_env_names()
    return sorted(name for name in env if name.upper() not in known)


def leaked_secrets(env: Mapping[str, str]) -> list[str]:
    """Secret variables whose value holds anything but `${VAR}` / `${VAR:?…}` references."""
    problems = []
    for name, value in env.items():
        if not is_secret(name):
            continue
        references = list(_REFERENCE.finditer(value))
        defaulted = [ref["name"] for ref in references if ref["op"] not in (None, "?", ":?")]
        if defaulted:
            problems.append(f"{name}: a reference with a fallback bakes a secret in: {defaulted}")
        literal = _REFERENCE.sub("", value)
        if "://" in value:
            if not references or urlsplit(literal).password:
                problems.append(f"{name}: the URL's password is not a ${{…}} reference")
        elif literal:
            problems.append(f"{name}: literal value")
    return problems


# --- the checks failing on bad input (so that their passing means something) ---------------------


def test_a_misspelt_setting_is_reported() -> None:
    assert unknown_settings({"SYNCPIPE_GATEWAY_PROT": "8080", "KAFKA_BOOTSTRAP_SERVERS": "k:9092"}) == [
        "SYNCPIPE_GATEWAY_PROT"
    ]


@pytest.mark.parametrize(
    "env",
    [
        {"SYNCPIPE_API_TOKEN": "hunter2"},
        {"SYNCPIPE_ACCESS_KEYS": "${SYNCPIPE_ACCESS_KEYS:-dev-key}"},
        {"SYNCPIPE_ACCESS_KEYS": "${SYNCPIPE_ACCESS_KEYS},old-key"},
        {"DATABASE_URL": "postgresql://syncpipe:hunter2@postgres/syncpipe"},
        {"POSTGRES_PASSWORD": "postgres"},
    ],
)
def test_a_baked_in_secret_is_reported(env: dict[str, str]) -> None:
    assert leaked_secrets(env)


def test_interpolation_refuses_a_missing_required_variable() -> None:
    assert interpolate("a${X:-b}c", {}) == "abc"
    assert interpolate("${X:+on}${Y:+on}", {"X": "1"}) == "on"
    with pytest.raises(KeyError, match="Y is not set"):
        interpolate("${Y:?set it in .env}", {})


# --- docker-compose.yml -----------------------------------------------------------------------


def test_the_stack_has_the_expected_services(compose: dict[str, Any]) -> None:
    assert "version" not in compose, "the Compose spec has no version key"
    assert set(compose["services"]) == SERVICES
    built = {name for name, service in compose["services"].items() if "build" in service}
    assert built == set(SYNCPIPE_SERVICES)


@pytest.mark.parametrize("name", SYNCPIPE_SERVICES)
def test_syncpipe_services_set_only_real_settings(compose: dict[str, Any], name: str) -> None:
    assert unknown_settings(service_env(compose["services"][name])) == []


@pytest.mark.parametrize("name", SYNCPIPE_SERVICES)
def test_syncpipe_services_settings_validate(
    compose: dict[str, Any], env_example: dict[str, str], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(resolved_env(compose["services"][name], env_example), monkeypatch)
    if name != "gateway":
        assert settings.database_url is not None
        assert urlsplit(settings.database_url.get_secret_value()).hostname == "postgres"
    if name in ("gateway", "worker") or settings.kafka_bootstrap_servers is not None:
        assert settings.kafka_bootstrap_servers == "kafka:9092"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_secret_is_written_in_compose(compose: dict[str, Any], name: str) -> None:
    assert leaked_secrets(service_env(compose["services"][name])) == []


def test_every_interpolated_variable_is_documented(compose: dict[str, Any], env_example: dict[str, str]) -> None:
    referenced = {
        match["name"]
        for text in strings_in(compose)
        for match in _REFERENCE.finditer(text)
        if match["op"] not in ("-", ":-")
    }
    assert referenced == set(env_example), "compose's ${…} variables and .env.example must list the same names"


def test_env_example_holds_settings_or_named_compose_variables(env_example: dict[str, str]) -> None:
    known = settings_env_names()
    assert sorted(name for name in env_example if name not in known and name not in COMPOSE_ONLY_VARIABLES) == []
    assert not COMPOSE_ONLY_VARIABLES & known


def test_env_example_explains_every_variable() -> None:
    lines = [line.strip() for line in (ROOT / ".env.example").read_text().splitlines()]
    for index, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert index > 0, f"{line!r} has no comment above it"
            assert lines[index - 1].startswith("#"), f"{line!r} has no comment above it"


def test_env_example_placeholders_are_not_real_secrets(env_example: dict[str, str]) -> None:
    for name, value in env_example.items():
        if is_secret(name):
            assert "change-me" in value, f"{name} should hold an obvious placeholder"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_restart_and_wait_for_healthy_dependencies(compose: dict[str, Any], name: str) -> None:
    services = compose["services"]
    service = services[name]
    assert service.get("restart") == "unless-stopped"
    depends_on = service.get("depends_on") or {}
    assert isinstance(depends_on, dict), "long syntax, so that each dependency has a condition"
    assert "healthcheck" in service or any(dep["condition"] == "service_healthy" for dep in depends_on.values())
    for dependency, spec in depends_on.items():
        wanted = "service_healthy" if "healthcheck" in services[dependency] else "service_completed_successfully"
        assert spec["condition"] == wanted, f"{name} -> {dependency}"


def test_migrate_runs_once_before_every_database_user(compose: dict[str, Any]) -> None:
    services = compose["services"]
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate.get("restart", "no") == "no", "a restart policy would rerun a one-shot forever"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    users = [name for name in SYNCPIPE_SERVICES if name != "migrate" and "DATABASE_URL" in service_env(services[name])]
    assert set(users) == {"worker", "api", "acker", "gateway"}
    for name in users:
        if name == "gateway":
            # It only answers queryInstance from Postgres (bounded, 000005 until it can): accepting
            # calls must not wait for the database.
            assert set(services[name]["depends_on"]) == {"kafka"}
            continue
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


@pytest.mark.parametrize("name", SYNCPIPE_SERVICES)
def test_services_run_existing_commands(compose: dict[str, Any], name: str, capsys: pytest.CaptureFixture[str]) -> None:
    command = compose["services"][name]["command"]
    assert command == [name]
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    capsys.readouterr()
    assert exited.value.code == 0


@pytest.mark.parametrize("name", ["gateway", "api"])
def test_http_services_listen_on_all_interfaces_and_check_readyz(
    compose: dict[str, Any], env_example: dict[str, str], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = compose["services"][name]
    settings = settings_for(resolved_env(service, env_example), monkeypatch)
    assert getattr(settings, f"{name}_host") == "0.0.0.0", "127.0.0.1 is unreachable through a published port"
    port = getattr(settings, f"{name}_port")
    assert [str(mapping).rpartition(":")[2] for mapping in service["ports"]] == [str(port)]
    check = " ".join(service["healthcheck"]["test"])
    assert "/readyz" in check  # healthy = its dependencies answer, not merely "the process runs"
    assert f"SYNCPIPE_{name.upper()}_PORT" in check or f":{port}/" in check


def test_workers_scale_out_without_ports_and_finish_their_batch(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert "ports" not in worker
    assert "container_name" not in worker, "a fixed name allows one replica only"
    assert duration_s(worker["stop_grace_period"]) > DEFAULT_STOP_GRACE_S


def test_kafka_runs_in_kraft_mode(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert "zookeeper" not in name.lower()
        assert "zookeeper" not in str(service.get("image", "")).lower()
        assert not any("ZOOKEEPER" in key.upper() for key in service_env(service))
    kafka = compose["services"]["kafka"]
    env = service_env(kafka)
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@kafka:")
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for setting in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[setting] == "1", setting
    assert "KAFKA_LOG_RETENTION_HOURS" in env or "KAFKA_LOG_RETENTION_MS" in env


def test_the_broker_accepts_the_largest_record_and_producers_agree(
    compose: dict[str, Any], env_example: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    kafka_users = {}
    for name in SYNCPIPE_SERVICES:
        if "KAFKA_BOOTSTRAP_SERVERS" not in service_env(compose["services"][name]):
            continue
        kafka_users[name] = settings_for(resolved_env(compose["services"][name], env_example), monkeypatch)
        monkeypatch.undo()
    assert {"gateway", "worker"} <= set(kafka_users)
    kafka_fields = ("events_topic", "dead_letter_topic", "topic_partitions", "topic_replication_factor")
    layouts = {
        tuple(getattr(each, field) for field in (*kafka_fields, "max_record_bytes")) for each in kafka_users.values()
    }
    assert len(layouts) == 1, f"processes disagree on the topics: {layouts}"
    max_record_bytes = kafka_users["gateway"].max_record_bytes
    broker_max = int(service_env(compose["services"]["kafka"])["KAFKA_MESSAGE_MAX_BYTES"])
    assert broker_max >= max_record_bytes + RECORD_OVERHEAD_BYTES
    assert kafka_users["gateway"].topic_replication_factor == 1, "there is one broker"


@pytest.mark.parametrize(("name", "data_dir"), [("kafka", None), ("postgres", "/var/lib/postgresql/data")])
def test_broker_and_database_keep_their_data_in_named_volumes(
    compose: dict[str, Any], name: str, data_dir: str | None
) -> None:
    service = compose["services"][name]
    data_dir = data_dir or service_env(service)["KAFKA_LOG_DIRS"]
    mounts = {}  # container path -> volume: "source:target[:mode]"
    for volume in service["volumes"]:
        source, target = str(volume).split(":")[:2]
        mounts[target] = source
    assert data_dir in mounts, f"{name} keeps its data outside a volume"
    assert mounts[data_dir] in (compose.get("volumes") or {}), "a named volume, declared at the top level"


def test_the_private_key_reaches_the_gateway_as_a_secret_file(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    assert service_env(gateway)["SYNCPIPE_APP_PRIVATE_KEY"] == "/run/secrets/app_private_key"
    assert gateway["secrets"] == ["app_private_key"]
    assert _REFERENCE.fullmatch(compose["secrets"]["app_private_key"]["file"])


# --- Dockerfile and .dockerignore ---------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, argument = stripped.partition(" ")
            instructions.append((keyword.upper(), argument.strip()))
    return instructions


def test_the_image_runs_syncpipe_as_a_non_root_user() -> None:
    instructions = _dockerfile_instructions()
    stages = [argument for keyword, argument in instructions if keyword == "FROM"]
    assert stages
    assert all(stage.split()[0] == "python:3.11-slim" for stage in stages)
    entrypoints = [argument for keyword, argument in instructions if keyword == "ENTRYPOINT"]
    assert json.loads(entrypoints[-1]) == ["syncpipe"], "exec form, so that syncpipe itself gets SIGTERM"
    final_stage = instructions[max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM") :]
    users = [argument for keyword, argument in final_stage if keyword == "USER"]
    assert users, "the final stage must switch away from root"
    assert users[-1] not in ("root", "0")
    installs = [argument for keyword, argument in instructions if keyword == "RUN" and "pip install" in argument]
    assert installs
    assert not any("[" in install or " -e " in install for install in installs), "no extras, no editable install"


def test_local_secrets_stay_out_of_the_build_context() -> None:
    patterns = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if not line.startswith("#")}
    assert {".env", ".venv", ".git", "*.pem"} <= patterns
