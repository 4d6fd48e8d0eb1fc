"""The command line behaves like a tool: a version, helpful --help, options anywhere, and every bad or
missing setting as one line naming the variable (never its value) with exit 2."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.settings import Settings
from syncpipe.cli import READS, REQUIRES, _parser, _with_subcommands, main

SERVICES = ("gateway", "worker", "api", "acker", "signin", "migrate")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SYNCPIPE_ACCESS_KEYS", "SYNCPIPE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("syncpipe 0.")


def _every_command() -> list[list[str]]:
    """Each command and subcommand as typed: ["up"], ["dlq", "list"], ..."""
    commands = []
    for action in _parser()._subparsers._group_actions:  # type: ignore[union-attr]
        for name, parser in action.choices.items():  # type: ignore[union-attr]
            commands += [[name, *each.prog.split()[2:]] for each in _with_subcommands(parser)]
    return commands


def test_every_command_is_in_the_table_of_what_it_reads() -> None:
    assert {command[0] for command in _every_command()} == set(READS)


@pytest.mark.parametrize("command", _every_command(), ids=" ".join)
def test_every_help_says_what_the_command_does_and_what_it_reads(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    rest = capsys.readouterr().out.split("\n\n", 1)[1]
    description = rest.split("\n\n")[0]
    assert not description.startswith(("options:", "positional arguments:")), "a description under the usage"
    text = " ".join(rest.split())
    assert "environment:" in text
    for name in READS[command[0]]:
        assert name.upper().removeprefix("SYNCPIPE_") in text.replace("SYNCPIPE_", "")


def test_every_setting_is_read_by_some_command() -> None:
    read = {name for names in READS.values() for name in names}
    assert read <= set(Settings.model_fields)
    assert set(Settings.model_fields) - read == set()


@pytest.mark.parametrize("argv", [["worker", "--log-level", "DEBUG"], ["--log-level", "DEBUG", "worker"]])
def test_global_options_go_before_or_after_the_command(argv: list[str]) -> None:
    args = _parser().parse_args([*argv, "--log-format", "text"])
    assert (args.command, args.log_level, args.log_format) == ("worker", "DEBUG", "text")


def test_global_options_reach_nested_commands() -> None:
    args = _parser().parse_args(["dlq", "list", "--log-level", "ERROR"])
    assert isinstance(args, argparse.Namespace)
    assert (args.dlq_command, args.log_level) == ("list", "ERROR")


@pytest.mark.parametrize("command", SERVICES)
def test_a_missing_setting_is_one_line_naming_it(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == len(REQUIRES[command])
    assert all(line.startswith(f"syncpipe {command}: ") and "is not set" in line for line in lines)


def test_an_invalid_setting_names_the_variable_never_its_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNCPIPE_API_PORT", "port-eighty")
    monkeypatch.setenv("SYNCPIPE_WORKER_OPS_PORT", "99999")
    assert main(["api"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2
    assert "SYNCPIPE_API_PORT:" in err
    assert "SYNCPIPE_WORKER_OPS_PORT:" in err
    assert "port-eighty" not in err
    assert "99999" not in err
    assert "api_port" not in err


def test_an_unknown_syncpipe_variable_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNCPIPE_API_TOKN", "typo-of-the-token-variable")
    assert main(["api", "--log-format", "text"]) == 2
    err = capsys.readouterr().err
    assert "SYNCPIPE_API_TOKN is set but no setting has that name" in err
    assert "typo-of-the-token-variable" not in err


def _run(command: str, environment: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`syncpipe <command>` in a process of its own, with only `environment` of the syncpipe variables."""
    clean = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SYNCPIPE_", "OTEL_")) and name not in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")
    }
    return subprocess.run(
        [sys.executable, "-m", "syncpipe", command],
        env=clean | environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


TOKEN = "token-of-forty-characters-" + "t" * 14
KEY = "access-key-of-forty-characters-" + "k" * 9
UNREACHABLE_DATABASE = "postgresql://syncpipe@127.0.0.1:1/syncpipe"


@pytest.mark.parametrize(
    "url",
    [
        "mysql://syncpipe:pw-secret-1@db/syncpipe",
        "postgresql://syncpipe:pw-secret-1@db:fivefourthreetwo/syncpipe",
        "postgresql://syncpipe:pw-secret-1@[::1/syncpipe",
        "pw-secret-1",
    ],
)
def test_a_database_url_that_is_no_postgres_url_is_one_line_naming_it(url: str, tmp_path: Path) -> None:
    result = _run("api", {"DATABASE_URL": url, "SYNCPIPE_API_TOKEN": TOKEN}, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        "syncpipe api: DATABASE_URL: must be a postgresql:// URL (postgresql://user[:password]@host[:port]/database)"
    ]
    assert "secret" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("command", "environment", "line"),
    [
        (
            "api",
            {"DATABASE_URL": UNREACHABLE_DATABASE, "SYNCPIPE_API_TOKEN": "secret-half-of-a-token secret-other-half"},
            "the read API's bearer token (SYNCPIPE_API_TOKEN) must not contain whitespace",
        ),
        (
            "gateway",
            {
                "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                "SYNCPIPE_ACCESS_KEYS": KEY,
                "SYNCPIPE_APP_PRIVATE_KEY": "secret.pem",
            },
            "SYNCPIPE_APP_PRIVATE_KEY: cannot load an unencrypted PEM private key (FileNotFoundError)",
        ),
        (
            "acker",
            {"DATABASE_URL": UNREACHABLE_DATABASE, "SYNCPIPE_ACK_URL": "http://127.0.0.1:1/secret-path"},
            "acks must be signed: set SYNCPIPE_ACCESS_KEYS (the first key signs)",
        ),
        (
            "signin",
            {
                "DATABASE_URL": UNREACHABLE_DATABASE,
                "SYNCPIPE_APP_PRIVATE_KEY": "secret.pem",
                "SYNCPIPE_SIGNIN_APP_URL": "ftp://secret.example/",
            },
            "SYNCPIPE_SIGNIN_APP_URL must be an http(s) URL without a fragment",
        ),
    ],
    ids=["api-token-with-a-space", "gateway-private-key-missing", "acker-ack-url-without-a-key", "signin-app-url"],
)
def test_a_setting_a_service_finds_unusable_at_start_is_one_line_naming_it(
    command: str, environment: dict[str, str], line: str, tmp_path: Path
) -> None:
    """Checked by the service as it starts (not by the settings): still one line and exit 2, no traceback."""
    result = _run(command, environment, tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"syncpipe {command}: {line}"]
    assert "secret" not in result.stdout + result.stderr


def test_a_rule_that_names_its_variable_is_not_prefixed_with_it_again(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNCPIPE_GATEWAY_BASE_PATH", "no-slash")
    assert main(["worker"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "syncpipe worker: SYNCPIPE_GATEWAY_BASE_PATH must be a URL path starting with / (no {, }, ?, #, spaces)"
    ]
