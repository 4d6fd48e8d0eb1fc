"""Errors of the recovery tools, under one root; the command line maps them to exit codes."""

from __future__ import annotations


class RecoveryError(Exception):
    """Root of the recovery tools' own errors. `retriable`: trying the same again later may work."""

    retriable = False


class NotFound(RecoveryError):
    """What the operator named (a dead letter, a tenant's history) does not exist."""


class BadWindow(RecoveryError):
    """A replay window that cannot be read: an unknown topic or partition, an end before its start."""


class ReplayUnavailable(RecoveryError):
    """The broker stopped returning records in the middle of a window."""

    retriable = True


class ArchiveUnreadable(RecoveryError):
    """Archived calls of a tenant no longer validate: rebuilding without them would lose their effect."""

    def __init__(self, tenant_id: str, problems: list[tuple[str, str]], subject: str = "tenant") -> None:
        self.tenant_id = tenant_id  # or the instance's id, `subject` says which
        self.problems = problems
        shown = "; ".join(f"{event_id}: {reason}" for event_id, reason in problems[:3])
        super().__init__(f"{len(problems)} archived calls of {subject} {tenant_id} do not validate ({shown})")


class SchemaBehind(RecoveryError):
    """The database lacks a table this code needs: `syncpipe migrate` has not run yet."""
