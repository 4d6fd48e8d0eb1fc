"""The sign-in service's errors, under one root."""

from __future__ import annotations

from signin.refusals import Refusal


class SignInError(Exception):
    """Root of the sign-in service's errors."""


class SignInNotConfigured(SignInError):
    """A setting the service cannot start without is missing or unusable; the message names it."""


class SignInRefused(SignInError):
    """A sign-in (or logout) refused. `refusal` picks the page and the metric; `detail` is for the
    operator's log, never the page.

    A detail never holds a code, token, secret or assertion: only names, ids and error codes.
    """

    def __init__(self, refusal: Refusal, detail: str) -> None:
        super().__init__(f"{refusal.value}: {detail}")
        self.refusal = refusal
        self.detail = detail
