"""The applier's own errors; whether a failure is worth retrying is `runtime.outages.is_retriable`."""

from __future__ import annotations


class ApplierError(Exception):
    """Root of the applier's own errors."""

    retriable = False


class DeadLetterNotStored(ApplierError):
    """The dead-letter topic did not take a letter: the batch must not commit."""

    retriable = True
