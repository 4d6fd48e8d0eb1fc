"""Logs: JSON lines with the event's fields, text for people, and no secret in any line, ever."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runtime.logs import MASK, event_fields, log_handler, mask_secrets
from syncpipe.embedded.process import free_port
from syncpipe.simulation.generator import WorkloadSizes, generate_history
from tests.gateway.conftest import StartGateway

# An x-sign (HMAC-SHA256 in hex) anywhere in a line.
_SIGNATURE_SHAPED = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")
# A sealed clientSecret: RSA-2048 ciphertext in base64 is 344 characters.
_CIPHERTEXT_SHAPED = re.compile(r"[A-Za-z0-9+/]{300,}={0,2}")
_DEMO_TENANTS = 3
_DEMO_SEED = 7
_DEMO_INSTANCES = 4


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of the test's own behind the handler `configure_logging` installs, JSON format."""
    stream = io.StringIO()
    logger = logging.getLogger(f"tests.ops.logs.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = log_handler(json=True, stream=stream)
    logger.addHandler(handler)
    yield logger, stream
    logger.removeHandler(handler)


def lines_of(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_carries_the_event_fields(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    logger.info("accepted %s", "ev-1", extra=event_fields("ev-1", "t-1", "tenantSync"))
    logger.warning("no event here")
    [about_event, other] = lines_of(stream)
    assert about_event["message"] == "accepted ev-1"
    assert about_event["level"] == "INFO"
    assert (about_event["eventId"], about_event["tenantId"], about_event["interface"]) == ("ev-1", "t-1", "tenantSync")
    assert about_event["time"].endswith("+00:00")  # type: ignore[union-attr]
    assert "eventId" not in other


def test_a_json_line_is_json_dumpss_text_with_line_breaks_escaped(captured: tuple[logging.Logger, io.StringIO]) -> None:
    """The formatter's encoder, built once, writes what json.dumps writes (`default=str` for what JSON
    has no type for), and every character a reader could split a line on is escaped."""
    logger, stream = captured
    odd = object()
    fields = {"tenantId": '部门\x7f\x85\u2028\u2029\x00\n"', "count": 3, "ratio": 0.5, "none": None, "odd": odd}
    logger.info("plain ascii", extra={"tenantId": "t-1"})
    logger.info("odd \u2028 %s", "\x7f", extra=fields)
    plain, odd_line = stream.getvalue().splitlines()
    assert plain.endswith(', "message": "plain ascii", "tenantId": "t-1"}')
    expected = json.dumps({"message": "odd \u2028 \x7f", **fields}, ensure_ascii=False, default=str)[1:]
    for character in "\x7f\x85\u2028\u2029":
        expected = expected.replace(character, f"\\u{ord(character):04x}")
    assert odd_line.endswith(expected)
    assert json.loads(odd_line)["odd"] == str(odd)


def test_a_json_line_keeps_the_traceback_on_one_line(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("failed", extra=event_fields(interface="allOrgSync"))
    [line] = lines_of(stream)
    assert "RuntimeError: boom" in line["exception"]  # type: ignore[operator]
    assert line["interface"] == "allOrgSync"


def test_a_text_line_shows_the_event_fields_after_the_message() -> None:
    stream = io.StringIO()
    record = logging.LogRecord("gateway.app", logging.INFO, __file__, 1, "accepted %s", ("x",), None)
    record.__dict__.update(event_fields("ev-1", "t-1"))
    handler = log_handler(json=False, stream=stream)
    handler.handle(record)
    assert stream.getvalue().rstrip().endswith("gateway.app: accepted x [eventId=ev-1 tenantId=t-1]")


# A line as the gateway writes it, hidden in an interface name: what a sender puts in the URL.
_FORGED = "2026-01-05 09:30:00,123 INFO    gateway.app: accepted allOrgSync event " + "0" * 32
_LINE_BREAKS = ["\n", "\r\n", "\r", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("json_lines", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("line_break", _LINE_BREAKS, ids=[repr(b) for b in _LINE_BREAKS])
async def test_a_line_break_in_a_url_forges_no_log_line(
    start_gateway: StartGateway, json_lines: bool, line_break: str
) -> None:
    stream = io.StringIO()
    handler = log_handler(json=json_lines, stream=stream)
    logger = logging.getLogger("gateway.app")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)  # where a refusal is logged
    try:
        gateway = await start_gateway()
        raw, headers = gateway.sign({"tenantId": "t-logs"})
        await gateway.post(quote(f"x{line_break}{_FORGED}", safe=""), raw, headers)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    [line] = stream.getvalue().splitlines()  # one record, one line, whatever the reader counts as a break
    if json_lines:
        assert json.loads(line)["interface"] == f"x{line_break}{_FORGED}"[:64]  # as far as it is logged
    else:
        assert 'interface="x\\' in line  # quoted (it holds spaces), the break escaped


def test_a_text_field_that_could_pass_for_another_field_is_quoted() -> None:
    stream = io.StringIO()
    record = logging.LogRecord("gateway.app", logging.INFO, __file__, 1, "refused", (), None)
    record.__dict__.update(event_fields(tenant_id="t] [eventId=forged", interface="allOrgSync"))
    log_handler(json=False, stream=stream).handle(record)
    assert stream.getvalue().rstrip().endswith('refused [tenantId="t] [eventId=forged" interface=allOrgSync]')


def test_a_text_traceback_is_indented_and_escaped() -> None:
    """A traceback is several lines, its message's too: each starts indented, so none passes for a record."""
    stream = io.StringIO()
    try:
        raise ValueError(f"bad\n{_FORGED}\x1b[2J")
    except ValueError:
        record = logging.LogRecord("gateway.app", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    log_handler(json=False, stream=stream).handle(record)
    first, *traceback = stream.getvalue().rstrip("\n").split("\n")
    assert first.endswith("gateway.app: failed")
    assert traceback[0] == "    Traceback (most recent call last):"
    assert all(line.startswith("    ") for line in traceback)
    assert traceback[-2:] == ["    ValueError: bad", f"    {_FORGED}\\x1b[2J"]


def test_registered_secrets_are_masked_wherever_they_appear(captured: tuple[logging.Logger, io.StringIO]) -> None:
    logger, stream = captured
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    mask_secrets(secret, "abc")  # too short to mask: it would mask ordinary words
    logger.error("connect to postgresql://u:%s@db failed (abc)", secret, extra={"detail": f"token={secret}"})
    try:
        raise ValueError(secret)
    except ValueError:
        logger.exception("with a traceback")
    text = stream.getvalue()
    assert secret not in text
    assert text.count(MASK) == 3  # the message, the extra field, the exception
    assert "failed (abc)" in text


# --- a whole pipeline at DEBUG, as a user runs it -----------------------------------------------


@pytest.fixture
async def database_with_password(postgres_server_dsn: str) -> str:
    """A database URL holding a password (the test cluster trusts everyone, but the URL has one)."""
    role, password = f"logs_{uuid.uuid4().hex[:10]}", secrets.token_urlsafe(18)
    admin = await asyncpg.connect(postgres_server_dsn)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        await admin.execute(f"CREATE DATABASE {role} OWNER {role}")
    finally:
        await admin.close()
    parts = urlsplit(postgres_server_dsn)
    return urlunsplit(parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}", path=f"/{role}"))


def _private_key_file(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "app_private_key.pem"
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def _client_secrets_the_simulator_sends() -> list[str]:
    history = generate_history(_DEMO_SEED, _DEMO_TENANTS, WorkloadSizes())  # what `up --demo` plays
    found = [call.body.get("clientSecret") for call in history]
    return [secret for secret in found if isinstance(secret, str) and len(secret) >= 8]


@pytest.mark.integration
def test_a_debug_run_of_the_whole_pipeline_logs_no_secret(tmp_path: Path, database_with_password: str) -> None:
    access_key, api_token = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    instance_key = secrets.token_urlsafe(24)
    token_file = tmp_path / "api_token"
    token_file.write_text(api_token + "\n")
    password = urlsplit(database_with_password).password
    assert password
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SYNCPIPE_") and name not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
    }
    environment |= {
        "DATABASE_URL": database_with_password,
        "SYNCPIPE_ACCESS_KEYS": access_key,
        "SYNCPIPE_INSTANCE_ACCESS_KEYS": instance_key,
        "SYNCPIPE_API_TOKEN_FILE": str(token_file),
        "SYNCPIPE_APP_PRIVATE_KEY": str(_private_key_file(tmp_path)),
        "SYNCPIPE_GATEWAY_PORT": str(free_port()),
        "SYNCPIPE_API_PORT": str(free_port()),
        "SYNCPIPE_WORKER_OPS_PORT": str(free_port()),
        "SYNCPIPE_SIGNIN_PORT": str(free_port()),
    }
    command = [sys.executable, "-m", "syncpipe", "--log-level", "DEBUG", "--log-format", "json", "up", "--demo"]
    command += ["--demo-tenants", str(_DEMO_TENANTS), "--seed", str(_DEMO_SEED), "--exit-after-demo"]
    command += ["--demo-instances", str(_DEMO_INSTANCES)]
    result = subprocess.run(
        command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=300, check=False
    )
    # `up` writes its components' logs to files, one per component (JSON lines whatever the terminal).
    logs = "".join(path.read_text(encoding="utf-8") for path in sorted((tmp_path / ".syncpipe" / "logs").glob("*.log")))
    output = result.stdout + result.stderr + logs
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "simulation OK" in result.stdout
    assert "sign-in check OK" in result.stdout  # a sign-in ran too: its code, token and secret are not logged either

    client_secrets = _client_secrets_the_simulator_sends()
    assert client_secrets, "the demo sends application credentials"
    for secret in [access_key, instance_key, api_token, password, *client_secrets]:
        assert secret not in output
    assert not _SIGNATURE_SHAPED.search(output), _SIGNATURE_SHAPED.search(output)
    assert not _CIPHERTEXT_SHAPED.search(output), _CIPHERTEXT_SHAPED.search(output)

    lines = [json.loads(line) for line in logs.splitlines()]  # every line is one JSON object
    about_events = [line for line in lines if "eventId" in line]
    assert {line["logger"] for line in about_events} >= {
        "gateway.app",
        "workers.applier.consumer",
        "workers.acks.sender",
    }
    # A sync call's lines name its tenant, an instance call's (SPEC §9) its instance.
    assert all((line.get("tenantId") or line.get("instanceId")) and line.get("interface") for line in about_events)
    assert any(line.get("instanceId") and not line.get("tenantId") for line in about_events)
    assert not [line for line in lines if line["logger"].startswith("aiokafka") and line["level"] == "DEBUG"]
