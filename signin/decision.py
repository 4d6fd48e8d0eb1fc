"""Whether the synced state lets a sign-in through (SPEC §10): plain Python, no I/O.

The platform's identity service says who a person is; only what the sync calls delivered says
whether they may use the app. The tenant must exist and not be deleted, the app must be bound to
it, and the user (tenantId + userName) must exist, be enabled and be authorised for the app. The
claims handed to the application come from the synced record, not from the platform's userinfo.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from signin.exceptions import SignInRefused
from signin.refusals import Refusal


@dataclass(frozen=True, slots=True)
class SyncedTenant:
    deleted: bool
    domain_name: str


@dataclass(frozen=True, slots=True)
class SyncedApplication:
    client_id: str
    sealed_secret: str  # the clientSecret as synced: RSA-OAEP ciphertext, base64


@dataclass(frozen=True, slots=True)
class SyncedUser:
    enabled: bool
    authorised: bool  # for the app signing in
    name: str
    role: str
    org_code: str


@dataclass(frozen=True, slots=True)
class PlatformCredentials:
    """Where and with what to exchange a code: the tenant's auth centre and the app's credential."""

    base_url: str
    client_id: str
    sealed_secret: str


@dataclass(frozen=True, slots=True)
class SignedInUser:
    tenant_id: str
    user_name: str
    name: str
    role: str
    org_code: str
    app_id: str


def platform_credentials(
    tenant_id: str, app_id: str, tenant: SyncedTenant | None, application: SyncedApplication | None
) -> PlatformCredentials:
    """What the code exchange needs, or SignInRefused if the tenant or the app cannot sign anyone in."""
    if tenant is None:
        raise SignInRefused(Refusal.UNKNOWN_TENANT, f"tenant {tenant_id!r} was never synced")
    if tenant.deleted:
        raise SignInRefused(Refusal.TENANT_DELETED, f"tenant {tenant_id!r} is deleted")
    if application is None:
        raise SignInRefused(Refusal.UNKNOWN_APP, f"app {app_id!r} is not bound to tenant {tenant_id!r}")
    base_url = auth_centre(tenant.domain_name)
    if base_url is None:
        raise SignInRefused(
            Refusal.TENANT_DOMAIN_INVALID, f"tenant {tenant_id!r} has no http(s) domainName: {tenant.domain_name!r}"
        )
    return PlatformCredentials(base_url, application.client_id, application.sealed_secret)


def admitted_user(
    tenant_id: str, user_name: str, app_id: str, tenant: SyncedTenant | None, user: SyncedUser | None
) -> SignedInUser:
    """The person as the synced state knows them, or SignInRefused. The tenant is read again with the
    user: a tenant deleted while the platform was asked refuses the sign-in."""
    if tenant is None:
        raise SignInRefused(Refusal.UNKNOWN_TENANT, f"tenant {tenant_id!r} was never synced")
    if tenant.deleted:
        raise SignInRefused(Refusal.TENANT_DELETED, f"tenant {tenant_id!r} is deleted")
    who = f"user {user_name!r} of tenant {tenant_id!r}"
    if user is None:
        raise SignInRefused(Refusal.USER_NOT_SYNCED, f"{who} is not synced (yet)")
    if not user.enabled:
        raise SignInRefused(Refusal.USER_DISABLED, f"{who} is disabled")
    if not user.authorised:
        raise SignInRefused(Refusal.USER_NOT_AUTHORISED, f"{who} is not authorised for app {app_id!r}")
    return SignedInUser(tenant_id, user_name, user.name, user.role, user.org_code, app_id)


def auth_centre(domain_name: str) -> str | None:
    """The tenant's `domainName` as a base URL without a trailing slash; None unless http(s) with a host."""
    base = domain_name.strip().rstrip("/")
    try:
        parts = urlsplit(base)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return None
    return base
