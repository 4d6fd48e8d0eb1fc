"""What the synced state lets through, decided without any service (signin.decision)."""

from __future__ import annotations

import pytest

from signin.decision import (
    SyncedApplication,
    SyncedTenant,
    SyncedUser,
    admitted_user,
    auth_centre,
    platform_credentials,
)
from signin.exceptions import SignInRefused
from signin.refusals import PAGES, Refusal

LIVE = SyncedTenant(deleted=False, domain_name="https://ent1.sso.example.com/")
APP = SyncedApplication("client-1", "c2VhbGVk")
ALICE = SyncedUser(enabled=True, authorised=True, name="Alice", role="admin", org_code="D1")


def refusal_of(call: object) -> Refusal:
    assert callable(call)
    with pytest.raises(SignInRefused) as refused:
        call()
    return refused.value.refusal


def test_a_live_tenant_with_the_app_bound_gives_its_auth_centre_and_credential() -> None:
    credentials = platform_credentials("t-1", "app-1", LIVE, APP)
    assert credentials.base_url == "https://ent1.sso.example.com"
    assert (credentials.client_id, credentials.sealed_secret) == ("client-1", "c2VhbGVk")


@pytest.mark.parametrize(
    ("tenant", "application", "refusal"),
    [
        (None, APP, Refusal.UNKNOWN_TENANT),
        (SyncedTenant(deleted=True, domain_name=LIVE.domain_name), APP, Refusal.TENANT_DELETED),
        (LIVE, None, Refusal.UNKNOWN_APP),
        (SyncedTenant(deleted=False, domain_name=""), APP, Refusal.TENANT_DOMAIN_INVALID),
        (SyncedTenant(deleted=False, domain_name="javascript:alert(1)"), APP, Refusal.TENANT_DOMAIN_INVALID),
    ],
)
def test_no_code_is_exchanged_for_a_tenant_or_app_that_cannot_sign_in(
    tenant: SyncedTenant | None, application: SyncedApplication | None, refusal: Refusal
) -> None:
    assert refusal_of(lambda: platform_credentials("t-1", "app-1", tenant, application)) is refusal


def test_an_enabled_authorised_user_is_admitted_with_the_synced_record() -> None:
    person = admitted_user("t-1", "alice", "app-1", LIVE, ALICE)
    assert (person.tenant_id, person.user_name, person.app_id) == ("t-1", "alice", "app-1")
    assert (person.name, person.role, person.org_code) == ("Alice", "admin", "D1")


@pytest.mark.parametrize(
    ("tenant", "user", "refusal"),
    [
        (LIVE, None, Refusal.USER_NOT_SYNCED),
        (LIVE, SyncedUser(False, True, "Alice", "user", ""), Refusal.USER_DISABLED),
        (LIVE, SyncedUser(True, False, "Alice", "user", ""), Refusal.USER_NOT_AUTHORISED),
        (SyncedTenant(deleted=True, domain_name=LIVE.domain_name), ALICE, Refusal.TENANT_DELETED),
        (None, ALICE, Refusal.UNKNOWN_TENANT),
    ],
)
def test_the_synced_state_refuses_who_it_does_not_admit(
    tenant: SyncedTenant | None, user: SyncedUser | None, refusal: Refusal
) -> None:
    assert refusal_of(lambda: admitted_user("t-1", "alice", "app-1", tenant, user)) is refusal


@pytest.mark.parametrize(
    ("domain_name", "base"),
    [
        ("https://a.example.com", "https://a.example.com"),
        ("http://127.0.0.1:9000/realm/", "http://127.0.0.1:9000/realm"),
        (" https://a.example.com/ ", "https://a.example.com"),
        ("a.example.com", None),
        ("ftp://a.example.com", None),
        ("https://a.example.com/?next=x", None),
        ("https://", None),
    ],
)
def test_the_auth_centre_is_an_http_url_with_a_host(domain_name: str, base: str | None) -> None:
    assert auth_centre(domain_name) == base


def test_every_refusal_has_a_page() -> None:
    assert set(PAGES) == set(Refusal)
    assert "try again in a minute" in PAGES[Refusal.USER_NOT_SYNCED].message
