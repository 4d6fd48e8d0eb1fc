"""The one rule for "is this failure an outage?": retry the work as it is, or treat it as the work's fault.

Every process asks this module: the applier (retry the batch or isolate a poison event), the acker
(retry an ack), the read API (answer 503), the recovery commands (exit 4) and the pools that wait
for Postgres at start.
"""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka.errors import KafkaError

# Postgres errors that say "the database is not reachable or not itself right now", not "this
# work cannot be done": the same work succeeds once the server is back or the contention is gone.
_POSTGRES_OUTAGES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # SQLSTATE 08: the connection failed or was refused
    asyncpg.OperatorInterventionError,  # 57: shutting down, crashed, cannot connect now, cancelled
    asyncpg.InsufficientResourcesError,  # 53: too many connections, out of memory or disk
    asyncpg.InterfaceError,  # the connection was closed under the client
    # What asyncpg raises on a pooled connection whose server died in the middle of the protocol
    # ("cannot switch to state N; another operation is in progress"), seen when Postgres crashes
    # (tests/faults): the next connection works. Counted as the work's fault, it crashed the acker.
    asyncpg.InternalClientError,
    # Contention between concurrent transactions: the same transaction succeeds when tried again.
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.LockNotAvailableError,
)


def _partition_missing(exc: BaseException) -> bool:
    """A row for a time-partitioned table whose partition was not made ahead (docs/retention.md: the
    retention runs failed for longer than the lead): the next run that succeeds creates it, and the
    same work then succeeds. Waiting is right; dead-lettering every event meanwhile would not be."""
    return isinstance(exc, asyncpg.CheckViolationError) and str(exc).startswith("no partition of relation")


def is_retriable(exc: BaseException) -> bool:
    """True when `exc` is an outage or transient contention: the same work may succeed later, unchanged.

    An error that carries a boolean `retriable` flag (our own errors, aiokafka's `KafkaError`) is
    taken at its word; otherwise the socket failing, a timeout and the Postgres errors above are.
    """
    flag = getattr(exc, "retriable", None)
    if isinstance(flag, bool) and isinstance(exc, Exception):
        return flag
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)
    return isinstance(exc, (*_POSTGRES_OUTAGES, OSError, asyncio.TimeoutError)) or _partition_missing(exc)
