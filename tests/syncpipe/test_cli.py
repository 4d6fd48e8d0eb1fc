"""The command line behaves like a tool: a version, helpful --help, options anywhere, and every bad or
missing setting as one line naming the variable (never its value) with exit 2."""

from __future__ import annotations

import argparse

import pytest

from runtime.settings import Settings
from syncpipe.cli import READS, REQUIRES, _parser, main

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


@pytest.mark.parametrize("command", [*SERVICES, "up", "simulate", "replay", "rebuild", "dlq", "events"])
def test_every_help_says_what_the_command_does_and_what_it_reads(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "environment:" in text
    for name in READS.get(command, ()):
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
