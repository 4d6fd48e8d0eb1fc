"""Numbers given to the recovery commands: one that Postgres or Kafka cannot hold is a usage error naming
the argument, exit 2, before anything is connected (it was a traceback, or silently accepted)."""

from __future__ import annotations

import pytest

from syncpipe.recovery.arguments import parse_offset
from tests.syncpipe.recovery.test_recovery_times import refused

BIGINT_MAX = 2**63 - 1


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(str(BIGINT_MAX + 1), id="past-bigint"),
        pytest.param("9" * 30, id="thirty-digits"),
        pytest.param("9" * 5000, id="more-digits-than-int-reads"),
        pytest.param("0", id="zero"),
        pytest.param("\u0663", id="arabic-indic-digit"),  # int() reads it as 3
        pytest.param("1_000", id="underscores"),  # int() reads them
    ],
)
@pytest.mark.parametrize(
    ("command", "argument"),
    [
        (("dlq", "show"), "ID"),
        (("dlq", "retry"), "ID"),
        (("dlq", "drop"), "ID"),
        (("dlq", "list", "--limit"), "--limit"),
        (("events", "--tenant", "t", "--limit"), "--limit"),
    ],
)
def test_an_id_or_limit_no_bigint_holds_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...], argument: str, value: str
) -> None:
    error = refused(capsys, *command, value)
    assert error.startswith(f"syncpipe {command[0]}")
    assert f"error: argument {argument}: " in error
    assert "out of range" in error or "digits 0-9" in error


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (f"0:{BIGINT_MAX + 1}", "an offset"),
        (f"0:{'9' * 40}", "an offset"),
        (f"{2**31}:0", "a partition"),
    ],
)
@pytest.mark.parametrize("option", ["--from-offset", "--until"])
def test_an_offset_or_partition_kafka_cannot_hold_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], option: str, value: str, what: str
) -> None:
    argv = ("replay", "--from-offset", value) if option == "--from-offset" else ("replay", "--since", "1h")
    if option == "--until":
        argv += ("--until", value)
    error = refused(capsys, *argv)
    assert error.startswith(f"syncpipe replay: error: argument {option}: ")
    assert f"is out of range: {what} is 0 to" in error


def test_the_largest_offsets_kafka_holds_are_read() -> None:
    assert parse_offset(f"{2**31 - 1}:{BIGINT_MAX}") == (2**31 - 1, BIGINT_MAX)
