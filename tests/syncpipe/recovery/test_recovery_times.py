"""Times given to the recovery commands: one that cannot be represented is a usage error, never a traceback.

Through the real entry point (`syncpipe.cli.main`): argparse turns ArgumentTypeError into
`syncpipe <command>: error: argument --since: ...` and exit code 2, before anything is connected.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from syncpipe.cli import main
from syncpipe.recovery.arguments import parse_time
from syncpipe.recovery.exit_codes import EXIT_USAGE

FULL_WIDTH_TIME = "20260501100000000".translate({ord("0") + digit: 0xFF10 + digit for digit in range(10)})


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The error line of `syncpipe *argv`, which must exit 2 having printed nothing on stdout."""
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    captured = capsys.readouterr()
    assert (exited.value.code, captured.out) == (EXIT_USAGE, "")
    assert "Traceback" not in captured.err
    return captured.err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        pytest.param("99999999d", "out of range", id="days-before-year-1"),
        pytest.param("9999999999d", "out of range", id="days-beyond-timedelta"),
        pytest.param("99999999999999999999s", "out of range", id="seconds-beyond-timedelta"),
        pytest.param("9" * 5000 + "s", "out of range", id="more-digits-than-int-reads"),
        pytest.param("0001-01-01T00:00:00+01:00", "out of range", id="iso-before-year-1-in-utc"),
        pytest.param("9999-12-31T23:59:59-01:00", "out of range", id="iso-after-year-9999-in-utc"),
        pytest.param("00010101000000000", "out of range", id="platform-before-year-1-in-utc"),
        pytest.param("20261301000000000", "month must be in 1..12", id="platform-month-13"),
        pytest.param(FULL_WIDTH_TIME, "not a time", id="platform-in-full-width-digits"),
        pytest.param("\uff11\uff15m", "not a time", id="ago-in-full-width-digits"),
        pytest.param("yesterday", "not a time", id="no-time"),
    ],
)
@pytest.mark.parametrize(
    ("command", "option"),
    [
        (("events", "--tenant", "t"), "--since"),
        (("replay",), "--since"),
        (("replay", "--since", "1h"), "--until"),
    ],
)
def test_a_time_that_cannot_be_represented_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...], option: str, value: str, reason: str
) -> None:
    error = refused(capsys, *command, option, value)
    assert error.startswith(f"syncpipe {command[0]}: error: argument {option}: ")
    assert repr(value[:40]).rstrip("'") in error
    assert reason in error


@pytest.mark.parametrize("value", ["1969-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z", "19700101075959999"])
@pytest.mark.parametrize("option", ["--since", "--until"])
def test_a_replay_time_before_the_first_kafka_timestamp_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], option: str, value: str
) -> None:
    """Kafka stamps records in milliseconds since 1970: aiokafka refuses to look an earlier time up."""
    argv = ("replay", option, value) if option == "--since" else ("replay", "--since", "2h", option, value)
    error = refused(capsys, *argv)
    assert error.startswith(f"syncpipe replay: error: argument {option}: {value!r} is before 1970-01-01T00:00:00Z")


def test_the_events_command_reads_times_before_1970() -> None:
    """Postgres has those: only Kafka does not."""
    assert parse_time("1969-12-31T23:59:59Z") == datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_a_time_with_a_zone_is_read_as_utc() -> None:
    moment = parse_time("2026-05-01T10:00:00+08:00")
    assert (moment, moment.utcoffset()) == (datetime(2026, 5, 1, 2, tzinfo=UTC), UTC.utcoffset(None))
