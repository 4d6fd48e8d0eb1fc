"""Which failures are worth retrying as they are, and which mean the event itself is bad."""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka.errors import KafkaError

# Postgres errors that say "the database is not reachable or not itself right now", not "this
# event cannot be applied": retry the batch unchanged, forever, with backoff.
_RETRIABLE_POSTGRES = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.LockNotAvailableError,
    asyncpg.QueryCanceledError,
    # What asyncpg raises on a pooled connection whose server died in the middle of the protocol
    # ("cannot switch to state N; another operation is in progress"), seen when Postgres crashes
    # (tests/faults): the next connection works. Counted as the event's fault, it crashed the acker.
    asyncpg.InternalClientError,
)


class ApplierError(Exception):
    """Root of the applier's own errors."""

    retriable = False


class DeadLetterNotStored(ApplierError):
    """The dead-letter topic did not take a letter: the batch must not commit."""

    retriable = True


def is_retriable(exc: BaseException) -> bool:
    if isinstance(exc, ApplierError):
        return exc.retriable
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)
    return isinstance(exc, (*_RETRIABLE_POSTGRES, OSError, asyncio.TimeoutError))
