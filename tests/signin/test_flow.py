"""One sign-in through the flow, with the synced state faked and the platform played on loopback."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from prometheus_client import CollectorRegistry

from signin.assertion import AssertionSigner, generated_signing_key
from signin.client_secret import ClientSecretOpener
from signin.decision import SyncedApplication, SyncedTenant, SyncedUser
from signin.exceptions import SignInRefused
from signin.flow import SignInFlow
from signin.metrics import SignInMetrics
from signin.platform import PlatformIdentity
from signin.refusals import Refusal
from tests.signin.auth_centre import AuthCentre, json_answer, serving

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
SEALED = base64.b64encode(KEY.public_key().encrypt(b"plain-secret", OAEP)).decode()
ALICE = SyncedUser(enabled=True, authorised=True, name="Alice (synced)", role="admin", org_code="D7")


@dataclass
class FakeSyncedState:
    """The tables as a test sets them; `tenants` is read in order, one per read (a later one = changed meanwhile)."""

    tenants: list[SyncedTenant | None]
    application: SyncedApplication | None = field(default_factory=lambda: SyncedApplication("client-1", SEALED))
    user: SyncedUser | None = ALICE

    def _tenant(self) -> SyncedTenant | None:
        return self.tenants.pop(0) if len(self.tenants) > 1 else self.tenants[0]

    async def tenant_and_application(
        self, tenant_id: str, app_id: str
    ) -> tuple[SyncedTenant | None, SyncedApplication | None]:
        return self._tenant(), self.application

    async def tenant_and_user(
        self, tenant_id: str, user_name: str, app_id: str
    ) -> tuple[SyncedTenant | None, SyncedUser | None]:
        return self._tenant(), self.user if user_name == "alice" else None

    async def tenant(self, tenant_id: str) -> SyncedTenant | None:
        return self._tenant()


@pytest.fixture
async def centre() -> AsyncIterator[AuthCentre]:
    async with serving(AuthCentre()) as centre:
        yield centre


async def sign_in(centre: AuthCentre, state: FakeSyncedState) -> tuple[object, str]:
    signer = AssertionSigner([generated_signing_key()], issuer="https://signin", audience="https://app", ttl_s=60)
    async with aiohttp.ClientSession() as session:
        platform = PlatformIdentity(session, 5.0, SignInMetrics(CollectorRegistry()))
        flow = SignInFlow(state, platform, ClientSecretOpener(KEY), signer, public_url="https://signin/")  # type: ignore[arg-type]
        person, assertion = await flow.sign_in("app-1", "t-1", "code-1")
    assert jwt.decode(assertion, options={"verify_signature": False})["userName"] == "alice"
    return person, assertion


def live(centre: AuthCentre) -> SyncedTenant:
    return SyncedTenant(deleted=False, domain_name=centre.url + "/")


async def test_the_assertion_carries_the_synced_record_not_the_platforms_word(centre: AuthCentre) -> None:
    centre.userinfo = json_answer({"tenant": "t-1", "userName": "alice", "name": "Alice (platform)", "role": "admin"})
    _, assertion = await sign_in(centre, FakeSyncedState([live(centre)]))
    claims = jwt.decode(assertion, options={"verify_signature": False})
    assert (claims["name"], claims["role"], claims["orgCode"]) == ("Alice (synced)", "admin", "D7")
    assert centre.token_forms[0]["redirect_uri"] == "https://signin/signin/callback/app-1"
    assert centre.token_forms[0]["client_secret"] == "plain-secret"


async def test_a_user_of_another_tenant_is_refused_even_if_the_platform_took_the_code(centre: AuthCentre) -> None:
    """A platform whose auth centres share codes: the callback's tenant must be the one userinfo names."""
    centre.userinfo = json_answer({"tenant": "t-2", "userName": "alice"})
    with pytest.raises(SignInRefused) as refused:
        await sign_in(centre, FakeSyncedState([live(centre)]))
    assert refused.value.refusal is Refusal.TENANT_MISMATCH


async def test_a_tenant_deleted_while_the_platform_was_asked_is_refused(centre: AuthCentre) -> None:
    deleted = SyncedTenant(deleted=True, domain_name=centre.url)
    with pytest.raises(SignInRefused) as refused:
        await sign_in(centre, FakeSyncedState([live(centre), deleted]))
    assert refused.value.refusal is Refusal.TENANT_DELETED
    assert len(centre.userinfo_headers) == 1  # the platform had answered; the synced state refused after


async def test_an_unbound_app_asks_nothing_of_the_platform(centre: AuthCentre) -> None:
    with pytest.raises(SignInRefused) as refused:
        await sign_in(centre, FakeSyncedState([live(centre)], application=None))
    assert refused.value.refusal is Refusal.UNKNOWN_APP
    assert centre.token_forms == []
