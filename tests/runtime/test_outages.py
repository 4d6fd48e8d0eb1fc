"""Which failures defer a batch (retried as it is) and which count against its records."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError, RecordTooLargeError

from runtime.outages import is_retriable
from workers.applier.errors import DeadLetterNotStored
from workers.replay.exceptions import NotFound, ReplayUnavailable


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionRefusedError(111, "Connect call failed"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        # A pooled connection the server dropped mid-protocol, as a Postgres crash leaves it.
        asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
        KafkaConnectionError(),
        DeadLetterNotStored("the dead-letter topic did not answer"),
        TimeoutError(),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.DeadlockDetectedError("deadlock detected"),
        ReplayUnavailable("the log cannot be read now"),
        # A history partition not made ahead: the next retention run makes it (docs/retention.md).
        asyncpg.CheckViolationError('no partition of relation "events" found for row'),
    ],
)
def test_an_unreachable_service_is_retriable(failure: Exception) -> None:
    assert is_retriable(failure)


@pytest.mark.parametrize(
    "failure",
    [
        asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence"),
        asyncpg.NotNullViolationError("null value in column"),
        RecordTooLargeError(),
        ValueError("a bug"),
        NotFound("no dead letter 7"),
    ],
)
def test_a_failure_of_the_data_is_not(failure: Exception) -> None:
    assert not is_retriable(failure)
