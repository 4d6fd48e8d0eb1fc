"""One root for the acker's own errors."""

from __future__ import annotations


class AckerError(Exception):
    """Root of the errors raised by `workers.acks`."""

    retriable = False


class AckNotDelivered(AckerError):
    """The platform did not answer 2xx in time; the message says what happened instead.

    Always retriable: SPEC §6 has an ack retried until the platform takes it.
    """

    retriable = True


class AckerNotConfigured(AckerError):
    """The acker cannot start: a setting it needs is missing."""
