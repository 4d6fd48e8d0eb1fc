"""The simulated platform's identity service: its directory follows the platform's calls, and its
token endpoint takes a code once, only for its own tenant, client and redirect_uri."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from schemas.calls import Flag, Interface
from syncpipe.simulation.generator import PlatformCall
from syncpipe.simulation.identity import IdentityDirectory, SimulatedIdentity, serving_identity

CALLBACK = "https://signin.example.com/signin/callback/{appId}"


def call(interface: Interface, tenant_id: str, millisecond: int, **fields: Any) -> PlatformCall:
    return PlatformCall(interface, {"tenantId": tenant_id, "timeStamp": f"20250101000000{millisecond:03d}", **fields})


def tenant_calls(tenant_id: str, code: str, app_id: str, secret: str, *users: str) -> list[PlatformCall]:
    return [
        call(Interface.TENANT_SYNC, tenant_id, 1, tenantCode=code, name=tenant_id, domainName="https://x", flag=1),
        call(
            Interface.APPLICATION_SYNC,
            tenant_id,
            2,
            appId=app_id,
            clientId=f"client-{app_id}",
            clientSecret=secret,
            flag=1,
        ),
        call(
            Interface.AUTH_SYNC,
            tenant_id,
            3,
            appId=app_id,
            currentSyncTime="20250101000000003",
            flag=1,
            userList=[{"userName": user, "name": user.title(), "enable": "true"} for user in users],
        ),
    ]


@pytest.fixture
async def identity() -> AsyncIterator[SimulatedIdentity]:
    identity = SimulatedIdentity(IdentityDirectory(), callback_url=CALLBACK)
    async with serving_identity(identity):
        identity.adopt(tenant_calls("t-a", "enta", "app-a", "secret-a", "alice"))
        identity.adopt(tenant_calls("t-b", "entb", "app-b", "secret-b", "bob"))
        yield identity


async def code_for(session: aiohttp.ClientSession, identity: SimulatedIdentity, app_id: str, user: str) -> str:
    form = {"appId": app_id, "userName": user}
    async with session.post(f"{identity.url}/unified-login/sign-in", data=form, allow_redirects=False) as answer:
        assert answer.status == 302
        location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK.format(appId=app_id)
    return parse_qs(location.query)["code"][0]


async def exchange(
    session: aiohttp.ClientSession, realm_url: str, code: str, app_id: str, secret: str, *, redirect_app: str = ""
) -> tuple[int, dict[str, Any]]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": f"client-{app_id}",
        "client_secret": secret,
        "redirect_uri": CALLBACK.format(appId=redirect_app or app_id),
    }
    async with session.post(f"{realm_url}/api/v1/oauth2/token", data=form) as answer:
        return answer.status, await answer.json()


def test_adopt_points_each_tenant_domain_here() -> None:
    identity = SimulatedIdentity(IdentityDirectory(), callback_url=CALLBACK, url="http://127.0.0.1:9")
    [tenant, *_] = identity.adopt(tenant_calls("t-a", "enta", "app-a", "s", "alice"))
    assert tenant.body["domainName"] == "http://127.0.0.1:9/enta"
    assert identity.directory.by_realm("enta") is identity.directory.tenant("t-a")


def test_the_directory_follows_deletes_revocations_and_ignores_test_calls() -> None:
    directory = IdentityDirectory()
    directory.apply(tenant_calls("t-a", "enta", "app-a", "s", "alice", "bob", "carol"))
    user_list = [{"userName": "bob"}]
    revoke = call(
        Interface.AUTH_SYNC, "t-a", 4, appId="app-a", currentSyncTime="20250101000000004", flag=3, userList=user_list
    )
    delete = call(
        Interface.AUTH_SYNC, "t-a", 5, appId="app-a", currentSyncTime="20250101000000005", flag=0, userList=user_list
    )
    probe = call(
        Interface.AUTH_SYNC,
        "t-a",
        6,
        testFlag=1,
        appId="app-a",
        currentSyncTime="20250101000000006",
        flag=0,
        userList=[{"userName": "carol"}],
    )
    directory.apply([revoke])
    tenant = directory.tenant("t-a")
    assert tenant is not None
    assert set(tenant.accounts) == {"alice", "bob", "carol"}  # a revoked user still has an account
    directory.apply([delete, probe])
    assert set(tenant.accounts) == {"alice", "carol"}
    moved = call(Interface.TENANT_SYNC, "t-a", 7, tenantCode="enta2", name="A", domainName="https://h/enta2", flag=2)
    directory.apply([moved])
    assert directory.by_realm("enta2") is tenant
    assert directory.by_realm("enta") is None  # the old domainName answers nothing
    directory.apply([call(Interface.TENANT_SYNC, "t-a", 8, tenantCode="enta2", flag=int(Flag.DELETE))])
    assert directory.by_app("app-a") is None


async def test_a_code_is_exchanged_once_for_a_token_that_reads_the_account(identity: SimulatedIdentity) -> None:
    async with aiohttp.ClientSession() as session:
        code = await code_for(session, identity, "app-a", "alice")
        status, token = await exchange(session, identity.domain_for("enta"), code, "app-a", "secret-a")
        assert status == 200
        assert token["token_type"] == "Bearer"
        assert token["expires_in"] == 7200
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        async with session.get(f"{identity.domain_for('enta')}/api/v1/oauth2/userinfo", headers=headers) as answer:
            info = await answer.json()
        assert (info["tenant"], info["userName"], info["name"]) == ("t-a", "alice", "Alice")
        assert await exchange(session, identity.domain_for("enta"), code, "app-a", "secret-a") == (
            400,
            {"error": "invalid_grant", "error_description": "Invalid authorization code"},
        )


async def test_a_code_is_refused_at_another_tenant_with_another_client_or_redirect(identity: SimulatedIdentity) -> None:
    async with aiohttp.ClientSession() as session:
        code = await code_for(session, identity, "app-a", "alice")
        status, answer = await exchange(session, identity.domain_for("entb"), code, "app-b", "secret-b")
        assert (status, answer["error"]) == (400, "invalid_grant")  # tenant b's auth centre, its own client
        status, answer = await exchange(session, identity.domain_for("enta"), code, "app-a", "wrong")
        assert (status, answer["error"]) == (401, "invalid_client")
        assert answer["error_description"] == "Bad client credentials"
        status, answer = await exchange(
            session, identity.domain_for("enta"), code, "app-a", "secret-a", redirect_app="app-z"
        )
        assert (status, answer["error"]) == (400, "invalid_grant")
        # None of these used the code up.
        status, _ = await exchange(session, identity.domain_for("enta"), code, "app-a", "secret-a")
        assert status == 200


async def test_logout_ends_at_the_redirect_url(identity: SimulatedIdentity) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{identity.domain_for('enta')}/api/v1/logout",
            params={"redirect_url": "https://app.example.com/bye"},
            allow_redirects=False,
        ) as answer,
    ):
        assert answer.status == 302
        assert answer.headers["Location"] == "https://app.example.com/bye"
    assert identity.logouts == ["enta"]
