"""Why a sign-in is refused, and the one table that turns each reason into the page a person sees.

Every refusal is counted under its value (`syncpipe_signin_total{outcome=...}`) and logged with its
operator-facing detail; the page says what happened and what to do in the person's terms, never
why in the system's (no token, code, secret or stack trace).
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Refusal(StrEnum):
    LOGIN_EXPIRED = "login_expired"
    BAD_CALLBACK = "bad_callback"
    UNKNOWN_TENANT = "unknown_tenant"
    TENANT_DELETED = "tenant_deleted"
    TENANT_DOMAIN_INVALID = "tenant_domain_invalid"
    UNKNOWN_APP = "unknown_app"
    SECRET_UNDECRYPTABLE = "secret_undecryptable"
    INVALID_GRANT = "invalid_grant"
    INVALID_CLIENT = "invalid_client"
    PLATFORM_ERROR = "platform_error"
    PLATFORM_UNREACHABLE = "platform_unreachable"
    TENANT_MISMATCH = "tenant_mismatch"
    USER_NOT_SYNCED = "user_not_synced"
    USER_DISABLED = "user_disabled"
    USER_NOT_AUTHORISED = "user_not_authorised"
    DATABASE_UNAVAILABLE = "database_unavailable"


class RefusalPage(NamedTuple):
    status: int
    title: str
    message: str


_ADMIN = "If this goes on, tell your organisation's administrator."
_SETUP = "The application's sign-in is not set up correctly. The provider has been alerted; please try later."

PAGES: dict[Refusal, RefusalPage] = {
    Refusal.LOGIN_EXPIRED: RefusalPage(
        400,
        "This sign-in has expired",
        "Sign-in has to start from the application and finish within a few minutes, in the same browser. "
        "Please start again from the application's sign-in button.",
    ),
    Refusal.BAD_CALLBACK: RefusalPage(
        400, "This sign-in link is incomplete", "Please start again from the application's sign-in button."
    ),
    Refusal.UNKNOWN_TENANT: RefusalPage(
        403,
        "Your organisation is not set up here yet",
        "Your organisation's subscription is not known to this application yet. If it was bought a moment ago, "
        f"try again in a minute. {_ADMIN}",
    ),
    Refusal.TENANT_DELETED: RefusalPage(
        403,
        "Your organisation's subscription has ended",
        f"Your organisation no longer has access to this application. {_ADMIN}",
    ),
    Refusal.TENANT_DOMAIN_INVALID: RefusalPage(502, "Sign-in is not available right now", _SETUP),
    Refusal.UNKNOWN_APP: RefusalPage(
        403,
        "This application is not set up for your organisation",
        f"Your organisation has no access to this application yet. If it was set up a moment ago, try again in "
        f"a minute. {_ADMIN}",
    ),
    Refusal.SECRET_UNDECRYPTABLE: RefusalPage(502, "Sign-in is not available right now", _SETUP),
    Refusal.INVALID_GRANT: RefusalPage(
        400,
        "This sign-in link was already used or has expired",
        "Each sign-in link works once, for a short time. Please sign in again from the application.",
    ),
    Refusal.INVALID_CLIENT: RefusalPage(502, "Sign-in is not available right now", _SETUP),
    Refusal.PLATFORM_ERROR: RefusalPage(
        502, "The marketplace's sign-in service answered with an error", "Please try again in a few minutes."
    ),
    Refusal.PLATFORM_UNREACHABLE: RefusalPage(
        504, "The marketplace's sign-in service did not answer in time", "Please try again in a few minutes."
    ),
    Refusal.TENANT_MISMATCH: RefusalPage(
        403,
        "This sign-in link belongs to another organisation",
        "The link you followed was not made for your organisation. Please sign in again from the application.",
    ),
    Refusal.USER_NOT_SYNCED: RefusalPage(
        403,
        "Your account is being set up",
        "Your account is being set up in this application — try again in a minute.",
    ),
    Refusal.USER_DISABLED: RefusalPage(
        403, "Your account is disabled", f"Your organisation has disabled your account. {_ADMIN}"
    ),
    Refusal.USER_NOT_AUTHORISED: RefusalPage(
        403,
        "You do not have access to this application",
        "Your organisation has not given your account access to this application. Ask your organisation's "
        "administrator to grant it.",
    ),
    Refusal.DATABASE_UNAVAILABLE: RefusalPage(503, "Sign-in is briefly unavailable", "Please try again in a minute."),
}
