"""docker-compose.yml, .env.example, Dockerfile and .dockerignore, checked by reading them.

No Docker engine runs the tests, so these check what `docker compose up` would otherwise find out late:
a misspelt setting (silently ignored by the settings object), a secret in the environment instead of a
file, a service that starts before what it needs, a broker that refuses the records the gateway writes,
a quorum whose nodes disagree, a port open to the world.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, get_args
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pytest
import yaml
from pydantic import SecretStr

from runtime import topics
from runtime.settings import Settings
from runtime.topics import RECORD_OVERHEAD_BYTES
from syncpipe.cli import main

ROOT = Path(__file__).resolve().parents[1]
# The Apache Kafka the tests run: the embedded broker's Maven dependency (org.apache.kafka:kafka_2.13).
EMBEDDED_KAFKA_POM = ROOT / "syncpipe" / "embedded" / "apache-kafka" / "pom.xml"

BROKERS = ("kafka-1", "kafka-2", "kafka-3")
SERVICES = frozenset({*BROKERS, "postgres", "migrate", "gateway", "worker", "api", "acker"})
SYNCPIPE_SERVICES = ("migrate", "gateway", "worker", "api", "acker")
LONG_RUNNING = (*BROKERS, "postgres", "gateway", "worker", "api", "acker")
# Every partition on every broker; one broker may be lost before acks=all writes are refused.
REPLICATION = 3
MIN_INSYNC_REPLICAS = 2
# The brokers' settings that give every topic, syncpipe's and Kafka's own, REPLICATION and MIN_INSYNC_REPLICAS.
BROKER_REPLICATION = {
    "KAFKA_DEFAULT_REPLICATION_FACTOR": REPLICATION,
    "KAFKA_MIN_INSYNC_REPLICAS": MIN_INSYNC_REPLICAS,
    "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": REPLICATION,
    "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": REPLICATION,
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": MIN_INSYNC_REPLICAS,
    "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": REPLICATION,
    "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": MIN_INSYNC_REPLICAS,
}
# The services whose port is published, with the setting of that port: the HTTP servers, nothing else.
PUBLISHED = {"gateway": "SYNCPIPE_GATEWAY_PORT", "api": "SYNCPIPE_API_PORT"}
# Variables of .env that syncpipe never reads: compose uses them.
COMPOSE_ONLY_VARIABLES = frozenset({"SECRETS_DIR", "PUBLISH_ADDRESS"})
# Where compose mounts the secrets in a container; the only place a secret setting may point.
SECRETS_MOUNT = "/run/secrets/"
_SECRET_PATH = re.compile(re.escape(SECRETS_MOUNT) + r"(?P<name>[A-Za-z0-9_.-]+)")
# Names that hold a secret whatever their type in Settings.
_SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|PRIVATE_KEY|DATABASE_URL")
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


def commented_out_variables(text: str) -> set[str]:
    """The optional variables of an env file: `# NAME=value` lines, which compose leaves to their default."""
    return set(re.findall(r"^#\s*([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def service_env(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {name: "" if value is None else str(value) for name, value in environment.items()}


def resolved_env(service: Mapping[str, Any], dotenv: Mapping[str, str]) -> dict[str, str]:
    """The service's environment as its container sees it when `dotenv` is the .env file."""
    return {name: interpolate(value, dotenv) for name, value in service_env(service).items()}


def secret_placeholder(secret: str) -> str:
    return f"change-me-{secret}"


def container_env(service: Mapping[str, Any], dotenv: Mapping[str, str], secrets_dir: Path) -> dict[str, str]:
    """`resolved_env`, with the service's secrets as files in `secrets_dir` standing in for /run/secrets/
    (each holding `secret_placeholder`), so that the `*_FILE` settings read them as in the container."""
    for secret in service.get("secrets") or []:
        assert isinstance(secret, str), "short syntax: mounted at /run/secrets/<name>"
        (secrets_dir / secret).write_text(secret_placeholder(secret) + "\n")
    return {
        name: value.replace(SECRETS_MOUNT, f"{secrets_dir}/") for name, value in resolved_env(service, dotenv).items()
    }


def listener_ports(listeners: str) -> dict[str, int]:
    """`PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093` -> {"PLAINTEXT": 9092, "CONTROLLER": 9093}."""
    ports = {}
    for listener in listeners.split(","):
        name, _, address = listener.partition("://")
        ports[name] = int(address.rpartition(":")[2])
    return ports


def advertised_address(broker: Mapping[str, Any]) -> str:
    """Where clients reach a broker: its PLAINTEXT advertised listener, `host:port`."""
    listeners = dict(item.split("://") for item in service_env(broker)["KAFKA_ADVERTISED_LISTENERS"].split(","))
    return listeners["PLAINTEXT"]


def published_ports(service: Mapping[str, Any], dotenv: Mapping[str, str]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each `ports:` entry, as compose resolves it with `dotenv`."""
    published = []
    for mapping in service.get("ports") or []:
        assert isinstance(mapping, str), "short syntax"
        parts = interpolate(mapping, dotenv).split(":")
        assert len(parts) == 3, f"{mapping!r}: without an address, compose publishes on every interface"
        published.append((parts[0], int(parts[1]), int(parts[2])))
    return published


def embedded_kafka_version() -> str:
    """The version of org.apache.kafka:kafka_2.13 in the embedded broker's pom.xml."""
    assert EMBEDDED_KAFKA_POM.is_file(), f"no {EMBEDDED_KAFKA_POM}: where is the Kafka the tests run pinned now?"
    project = ElementTree.parse(EMBEDDED_KAFKA_POM).getroot()
    versions = [
        dependency.findtext("{*}version")
        for dependency in project.iterfind("{*}dependencies/{*}dependency")
        if dependency.findtext("{*}groupId") == "org.apache.kafka"
        and dependency.findtext("{*}artifactId") == "kafka_2.13"
    ]
    assert len(versions) == 1, f"one kafka_2.13 dependency in {EMBEDDED_KAFKA_POM}, found {versions}"
    assert versions[0], "its version is written in the dependency"
    return versions[0]


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
    """Secret variables that hold a secret, literally or interpolated from .env, instead of naming a file:
    a secret variable may only name a file under /run/secrets/ (a compose secret), and a URL may name a
    user but carry no password (and no ${…}, which could bring one)."""
    problems = []
    for name, value in env.items():
        if not is_secret(name):
            continue
        if "://" in value:
            if _REFERENCE.search(value) or urlsplit(value).password is not None:
                problems.append(f"{name}: the URL carries a password, or may (a pgpass file holds it)")
        elif not _SECRET_PATH.fullmatch(value):
            problems.append(f"{name}: the secret is in the environment; name a file under {SECRETS_MOUNT}")
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
        {"SYNCPIPE_API_TOKEN": "${SYNCPIPE_API_TOKEN:?set it in .env}"},
        {"SYNCPIPE_ACCESS_KEYS": "${SYNCPIPE_ACCESS_KEYS:-dev-key}"},
        {"SYNCPIPE_ACCESS_KEYS": "${SYNCPIPE_ACCESS_KEYS},old-key"},
        {"SYNCPIPE_ACCESS_KEYS_FILE": "./secrets/access_keys"},
        {"DATABASE_URL": "postgresql://syncpipe:hunter2@postgres/syncpipe"},
        {"DATABASE_URL": "postgresql://syncpipe:${POSTGRES_PASSWORD:?set it in .env}@postgres/syncpipe"},
        {"POSTGRES_PASSWORD": "postgres"},
        {"POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:?set it in .env}"},
    ],
)
def test_a_secret_in_the_environment_is_reported(env: dict[str, str]) -> None:
    assert leaked_secrets(env)


def test_secret_files_and_a_url_without_password_pass() -> None:
    assert (
        leaked_secrets(
            {
                "SYNCPIPE_ACCESS_KEYS_FILE": "/run/secrets/access_keys",
                "POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_password",
                "DATABASE_URL": "postgresql://syncpipe@postgres:5432/syncpipe?passfile=/run/secrets/pgpass",
            }
        )
        == []
    )


def test_interpolation_refuses_a_missing_required_variable() -> None:
    assert interpolate("a${X:-b}c", {}) == "abc"
    assert interpolate("${X:+on}${Y:+on}", {"X": "1"}) == "on"
    with pytest.raises(KeyError, match="Y is not set"):
        interpolate("${Y:?set it in .env}", {})


# --- docker-compose.yml: the services ---------------------------------------------------------


def test_the_stack_has_the_expected_services(compose: dict[str, Any]) -> None:
    assert "version" not in compose, "the Compose spec has no version key"
    assert set(compose["services"]) == SERVICES


def test_the_image_is_built_once_and_shared(compose: dict[str, Any]) -> None:
    services = compose["services"]
    builders = [name for name, service in services.items() if "build" in service]
    assert builders == ["migrate"], "one build: several services building one image build it once each"
    assert len({services[name]["image"] for name in SYNCPIPE_SERVICES}) == 1, "every process runs the one image"
    for name in SYNCPIPE_SERVICES:
        # Else compose asks a registry for the image that `migrate` builds, before building it.
        assert services[name].get("pull_policy") == "never", name


@pytest.mark.parametrize("name", SYNCPIPE_SERVICES)
def test_syncpipe_services_set_only_real_settings(compose: dict[str, Any], name: str) -> None:
    assert unknown_settings(service_env(compose["services"][name])) == []


@pytest.mark.parametrize("name", SYNCPIPE_SERVICES)
def test_syncpipe_services_settings_validate(
    compose: dict[str, Any], env_example: dict[str, str], name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    service = compose["services"][name]
    settings = settings_for(container_env(service, env_example, tmp_path), monkeypatch)
    if name != "gateway":
        assert settings.database_url is not None
        assert urlsplit(settings.database_url.get_secret_value()).hostname == "postgres"
    if name in ("gateway", "worker") or settings.kafka_bootstrap_servers is not None:
        brokers = [advertised_address(compose["services"][broker]) for broker in BROKERS]
        assert settings.kafka_bootstrap_servers == ",".join(brokers), "every broker, so that any one may be down"
    if "SYNCPIPE_ACCESS_KEYS_FILE" in service_env(service):
        assert settings.access_key_values() == [secret_placeholder("access_keys")], "read from the secret's file"
    if "SYNCPIPE_API_TOKEN_FILE" in service_env(service):
        assert settings.api_token is not None
        assert settings.api_token.get_secret_value() == secret_placeholder("api_token")


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_no_secret_is_in_the_environment(compose: dict[str, Any], name: str) -> None:
    assert leaked_secrets(service_env(compose["services"][name])) == []


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_mounts_exactly_the_secrets_its_environment_names(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    named = {match["name"] for value in service_env(service).values() for match in _SECRET_PATH.finditer(value)}
    assert named == set(service.get("secrets") or []), "a secret it names but lacks, or one it never uses"
    assert named <= set(compose.get("secrets") or {})


def test_secrets_are_files_of_the_secrets_directory(compose: dict[str, Any]) -> None:
    for name, secret in compose["secrets"].items():
        assert set(secret) == {"file"}, f"{name}: from a file, not from the environment of compose"
        path = interpolate(secret["file"], {})
        assert path.startswith("./secrets/"), f"{name}: in the directory .gitignore and .dockerignore leave out"
        assert interpolate(secret["file"], {"SECRETS_DIR": "/etc/syncpipe"}).startswith("/etc/syncpipe/")


def test_the_database_password_comes_from_a_pgpass_secret(compose: dict[str, Any]) -> None:
    services = compose["services"]
    postgres = service_env(services["postgres"])
    assert postgres["POSTGRES_PASSWORD_FILE"] == f"{SECRETS_MOUNT}postgres_password"
    users = [name for name in SYNCPIPE_SERVICES if "DATABASE_URL" in service_env(services[name])]
    assert users
    for name in users:
        url = urlsplit(service_env(services[name])["DATABASE_URL"])
        assert (url.username, url.password, url.hostname) == (postgres["POSTGRES_USER"], None, "postgres")
        assert url.path == f"/{postgres['POSTGRES_DB']}"
        # asyncpg reads the password from the pgpass file named here, like libpq.
        assert parse_qs(url.query)["passfile"] == [f"{SECRETS_MOUNT}pgpass"]


def test_the_private_key_reaches_the_gateway_as_a_secret_file(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    assert service_env(gateway)["SYNCPIPE_APP_PRIVATE_KEY"] == f"{SECRETS_MOUNT}app_private_key"
    assert "app_private_key" in gateway["secrets"]
    assert not any(
        "app_private_key" in (service.get("secrets") or [])
        for service in compose["services"].values()
        if service is not gateway
    )


# --- docker-compose.yml and .env.example ------------------------------------------------------


def test_every_interpolated_variable_is_documented(compose: dict[str, Any], env_example: dict[str, str]) -> None:
    references = [match for text in strings_in(compose) for match in _REFERENCE.finditer(text)]
    required = {match["name"] for match in references if match["op"] not in ("-", ":-")}
    assert required == set(env_example), "compose's required ${…} variables and .env.example must list the same names"
    optional = {match["name"] for match in references if match["op"] in ("-", ":-")}
    commented_out = commented_out_variables((ROOT / ".env.example").read_text())
    assert optional <= commented_out, "each variable with a default is in .env.example, commented out"


def test_env_example_holds_settings_or_named_compose_variables(env_example: dict[str, str]) -> None:
    known = settings_env_names()
    names = set(env_example) | commented_out_variables((ROOT / ".env.example").read_text())
    assert sorted(name for name in names if name not in known and name not in COMPOSE_ONLY_VARIABLES) == []
    assert not COMPOSE_ONLY_VARIABLES & known


def test_env_example_explains_every_variable() -> None:
    lines = [line.strip() for line in (ROOT / ".env.example").read_text().splitlines()]
    for index, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert index > 0, f"{line!r} has no comment above it"
            assert lines[index - 1].startswith("#"), f"{line!r} has no comment above it"


def test_env_example_holds_no_secret(env_example: dict[str, str]) -> None:
    names = set(env_example) | commented_out_variables((ROOT / ".env.example").read_text())
    # SECRETS_DIR only says where the files are.
    secrets = sorted(name for name in names if is_secret(name) and not name.endswith("_DIR"))
    assert secrets == [], "secrets are files (docker-compose.yml, secrets:)"


# --- docker-compose.yml: start, stop, ports ----------------------------------------------------


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


@pytest.mark.parametrize("name", ["gateway", "worker"])
def test_kafka_users_wait_for_every_broker(compose: dict[str, Any], name: str) -> None:
    # Creating a topic of REPLICATION replicas needs that many live brokers.
    assert set(BROKERS) <= set(compose["services"][name]["depends_on"])


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
            assert set(services[name]["depends_on"]) == set(BROKERS)
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
    compose: dict[str, Any], env_example: dict[str, str], name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    service = compose["services"][name]
    settings = settings_for(container_env(service, env_example, tmp_path), monkeypatch)
    assert getattr(settings, f"{name}_host") == "0.0.0.0", "127.0.0.1 is unreachable through a published port"
    port = getattr(settings, f"{name}_port")
    assert [str(mapping).rpartition(":")[2] for mapping in service["ports"]] == [str(port)]
    check = " ".join(service["healthcheck"]["test"])
    assert "/readyz" in check  # healthy = its dependencies answer, not merely "the process runs"
    assert f"SYNCPIPE_{name.upper()}_PORT" in check or f":{port}/" in check


def test_only_the_gateway_and_the_api_publish_a_port(compose: dict[str, Any]) -> None:
    # The workers' and the acker's ops ports (/metrics), the brokers and Postgres stay on the compose network.
    services = compose["services"]
    assert {name for name, service in services.items() if service.get("ports")} == set(PUBLISHED)
    assert not any("expose" in service or service.get("network_mode") == "host" for service in services.values())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_ports_are_on_the_loopback_unless_told(
    compose: dict[str, Any], env_example: dict[str, str], name: str
) -> None:
    service = compose["services"][name]
    port = int(service_env(service)[PUBLISHED[name]])
    # Their one port also serves /metrics: off the host's public interfaces unless PUBLISH_ADDRESS says.
    assert published_ports(service, env_example) == [("127.0.0.1", port, port)]
    assert published_ports(service, {**env_example, "PUBLISH_ADDRESS": "0.0.0.0"}) == [("0.0.0.0", port, port)]


def test_workers_scale_out_without_ports_and_finish_their_batch(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert worker["deploy"]["replicas"] >= 2
    assert "ports" not in worker
    assert "container_name" not in worker, "a fixed name allows one replica only"
    assert duration_s(worker["stop_grace_period"]) > DEFAULT_STOP_GRACE_S


# --- docker-compose.yml: Kafka ----------------------------------------------------------------


def test_the_brokers_run_the_kafka_the_tests_run(compose: dict[str, Any]) -> None:
    tested = embedded_kafka_version()
    for name in BROKERS:
        repository, _, tag = compose["services"][name]["image"].partition(":")
        assert repository == "apache/kafka"
        assert tag == tested, f"{name} runs Kafka {tag}, the tests {tested} ({EMBEDDED_KAFKA_POM})"


@pytest.mark.parametrize("name", BROKERS)
def test_kafka_runs_in_kraft_mode(compose: dict[str, Any], name: str) -> None:
    for service_name, service in compose["services"].items():
        assert "zookeeper" not in service_name.lower()
        assert "zookeeper" not in str(service.get("image", "")).lower()
        assert not any("ZOOKEEPER" in key.upper() for key in service_env(service))
    broker = compose["services"][name]
    env = service_env(broker)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "KAFKA_LOG_RETENTION_HOURS" in env or "KAFKA_LOG_RETENTION_MS" in env
    assert broker["healthcheck"]["test"], "the syncpipe services wait for it to be healthy"
    assert duration_s(broker["stop_grace_period"]) > DEFAULT_STOP_GRACE_S, "room for a controlled shutdown"


def test_the_brokers_form_one_quorum_of_three_voters(compose: dict[str, Any]) -> None:
    brokers = {name: service_env(compose["services"][name]) for name in BROKERS}
    assert len({env["CLUSTER_ID"] for env in brokers.values()}) == 1, "one cluster"
    assert len({env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in brokers.values()}) == 1, (
        "every node names the same voters"
    )
    voters = {}  # node id -> (host, port)
    for voter in next(iter(brokers.values()))["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","):
        node_id, _, address = voter.partition("@")
        host, _, port = address.rpartition(":")
        voters[int(node_id)] = (host, int(port))
    expected = {}
    for name, env in brokers.items():
        listeners = listener_ports(env["KAFKA_LISTENERS"])
        assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listeners
        expected[int(env["KAFKA_NODE_ID"])] = (name, listeners[env["KAFKA_CONTROLLER_LISTENER_NAMES"]])
        assert advertised_address(compose["services"][name]) == f"{name}:{listeners['PLAINTEXT']}"
    assert voters == expected, "each voter is a node's id at that node's controller listener"
    assert len(voters) == len(BROKERS) == REPLICATION


@pytest.mark.parametrize("name", BROKERS)
def test_every_topic_has_three_replicas_two_in_sync(compose: dict[str, Any], name: str) -> None:
    env = service_env(compose["services"][name])
    assert {setting: int(env[setting]) for setting in BROKER_REPLICATION} == BROKER_REPLICATION


def test_syncpipe_topics_have_three_replicas_two_in_sync(
    compose: dict[str, Any], env_example: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broker_defaults = {int(service_env(compose["services"][name])["KAFKA_MIN_INSYNC_REPLICAS"]) for name in BROKERS}
    assert broker_defaults == {MIN_INSYNC_REPLICAS}
    for name in ("gateway", "worker"):
        settings = settings_for(container_env(compose["services"][name], env_example, tmp_path), monkeypatch)
        monkeypatch.undo()
        assert settings.topic_replication_factor == REPLICATION
        assert topics.min_insync_replicas(settings) == MIN_INSYNC_REPLICAS


def test_the_brokers_accept_the_largest_record_and_producers_agree(
    compose: dict[str, Any], env_example: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    kafka_users = {}
    for name in SYNCPIPE_SERVICES:
        service = compose["services"][name]
        if "KAFKA_BOOTSTRAP_SERVERS" not in service_env(service):
            continue
        kafka_users[name] = settings_for(container_env(service, env_example, tmp_path), monkeypatch)
        monkeypatch.undo()
    assert {"gateway", "worker"} <= set(kafka_users)
    kafka_fields = ("events_topic", "dead_letter_topic", "topic_partitions", "topic_replication_factor")
    layouts = {
        tuple(getattr(each, field) for field in (*kafka_fields, "max_record_bytes")) for each in kafka_users.values()
    }
    assert len(layouts) == 1, f"processes disagree on the topics: {layouts}"
    max_record_bytes = kafka_users["gateway"].max_record_bytes
    for name in BROKERS:
        broker_max = int(service_env(compose["services"][name])["KAFKA_MESSAGE_MAX_BYTES"])
        assert broker_max >= max_record_bytes + RECORD_OVERHEAD_BYTES, name
    assert kafka_users["gateway"].topic_replication_factor <= len(BROKERS), "no more replicas than brokers"


@pytest.mark.parametrize(
    ("name", "data_dir"), [*((broker, None) for broker in BROKERS), ("postgres", "/var/lib/postgresql/data")]
)
def test_brokers_and_database_keep_their_data_in_named_volumes(
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


def test_each_broker_has_a_volume_of_its_own(compose: dict[str, Any]) -> None:
    volumes = [str(volume).split(":")[0] for name in BROKERS for volume in compose["services"][name]["volumes"]]
    assert len(set(volumes)) == len(volumes) == len(BROKERS), "two brokers on one log directory corrupt it"


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
    assert {".env", ".venv", ".git", "*.pem", "secrets"} <= patterns
