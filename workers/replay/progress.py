"""How long-running recovery work reports progress, without knowing where it is shown."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def update(self, done: int, total: int | None = None) -> None:
        """`done` units of work so far, out of `total` if known. Called often: must be cheap."""

    def note(self, message: str) -> None:
        """A one-off remark worth showing the operator (e.g. part of a window is past retention)."""


class NoProgress:
    """For callers (tests, scripts) that do not want progress."""

    def update(self, done: int, total: int | None = None) -> None:
        pass

    def note(self, message: str) -> None:
        pass
