"""Signing in through the platform in headless Chromium, end to end: the simulated platform's login
page, the sign-in service's callback and its check of the synced state, the merchant's application
verifying the assertion with the JWKS. Each refusal shows its page and counts its outcome."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, Request, expect

from schemas.calls import Flag, Interface
from syncpipe.simulation.config import SimulationConfig
from syncpipe.simulation.generator import WorkloadSizes, tenant_ids
from syncpipe.simulation.identity.person import who_may_sign_in
from syncpipe.simulation.read_api import ReadApiClient
from syncpipe.simulation.runner import simulate
from tests.read_api.browser.browser import DESKTOP
from tests.signin.browser.conftest import PLATFORM_TIMEOUT_S
from tests.signin.browser.world import Org, SignInWorld

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

# A sealed clientSecret (RSA-2048 ciphertext in base64, 344 characters) anywhere in a line.
_CIPHERTEXT_SHAPED = re.compile(r"[A-Za-z0-9+/]{300,}={0,2}")


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser context per test: no cookie of another test's sign-in."""
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    yield page
    await context.close()


async def sign_in(page: Page, world: SignInWorld, org: Org, user_name: str) -> None:
    """Start at the sign-in service, choose the account on the platform's login page."""
    await page.goto(world.login_url(org))
    await page.get_by_role("button", name=f"({user_name})").click()


async def expect_signed_in(page: Page, world: SignInWorld, org: Org, user_name: str) -> dict[str, Any]:
    await expect(page.get_by_role("heading", name="Signed in")).to_be_visible()
    await expect(page.locator("#who")).to_contain_text(f"({user_name}) of {org.tenant_id}")
    claims = world.application.verified[-1]
    assert (claims["tenantId"], claims["userName"], claims["app"]) == (org.tenant_id, user_name, org.app_id)
    return claims


async def expect_refused(page: Page, title: str) -> None:
    await expect(page.get_by_role("heading", level=1)).to_have_text(title)
    await expect(page.get_by_role("alert")).to_contain_text("Reference:")


async def code_for(world: SignInWorld, org: Org, user_name: str) -> str:
    """What an attacker holds: a code the platform issued for their own account (no browser needed)."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{world.identity.url}/unified-login/sign-in",
            data={"appId": org.app_id, "userName": user_name},
            allow_redirects=False,
        ) as answer,
    ):
        assert answer.status == 302
        return parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]


async def test_a_simulated_user_signs_in_end_to_end_and_out_again(world: SignInWorld, page: Page) -> None:
    """`syncpipe simulate` with the identity service: its tenants' domainName points at it, and one of
    its users, enabled and authorised in the synced state, signs in to the application."""
    sizes = WorkloadSizes(departments_per_tenant=6, users_per_tenant=8, changes_per_tenant=6)
    report = await simulate(
        SimulationConfig(
            gateway_url=world.pipeline.gateway_url,
            api_url=world.pipeline.api_url,
            access_key=world.pipeline.settings.access_keys[0],
            api_token=world.pipeline.settings.api_token,  # type: ignore[arg-type]
            tenants=2,
            seed=11,
            sizes=sizes,
            settle_timeout_s=60,
            client_secret_key=world.merchant_key_file,
        ),
        identity=world.identity,
    )
    assert report.ok, report.render()
    tenant_id, app_id, user_name = await _someone_who_may_sign_in(world, tenant_ids(11, 2, sizes))
    started = await world.sign_ins("signed_in")
    await page.goto(f"{world.signin_url}/signin/login/{app_id}")
    await expect(page.get_by_role("heading", name=re.compile("choose an account"))).to_be_visible()
    await page.get_by_role("button", name=f"({user_name})").click()

    await expect(page.get_by_role("heading", name="Signed in")).to_be_visible()
    claims = world.application.verified[-1]
    assert (claims["tenantId"], claims["userName"], claims["app"]) == (tenant_id, user_name, app_id)
    assert claims["exp"] - claims["iat"] == 60
    assert await world.sign_ins("signed_in") == started + 1
    # The login-start cookie is gone once used.
    assert not [cookie for cookie in await page.context.cookies() if cookie["name"] == "syncpipe_signin"]

    await page.get_by_role("link", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Signed out")).to_be_visible()
    tenant = world.identity.directory.tenant(tenant_id)
    assert tenant is not None
    assert world.identity.logouts[-1] == tenant.realm


async def _someone_who_may_sign_in(world: SignInWorld, tenants: list[str]) -> tuple[str, str, str]:
    async with aiohttp.ClientSession() as session:
        read_api = ReadApiClient(session, world.pipeline.api_url, world.pipeline.token, poll_interval_s=0.5)
        for tenant_id in tenants:
            found = who_may_sign_in(await read_api.tenant_snapshot(tenant_id))
            if found is not None:
                return tenant_id, *found
    raise AssertionError("no simulated user may sign in: change the seed")


async def test_a_user_revoked_by_a_later_auth_sync_is_refused(world: SignInWorld, page: Page) -> None:
    org = await world.new_org(world.user("alice"))
    await sign_in(page, world, org, "alice")
    await expect_signed_in(page, world, org, "alice")

    await world.platform_sends(world.authorise(org, world.user("alice"), flag=Flag.REVOKE))
    refused_before, received_before = await world.sign_ins("user_not_authorised"), len(world.application.received)
    await sign_in(page, world, org, "alice")
    await expect_refused(page, "You do not have access to this application")
    assert await world.sign_ins("user_not_authorised") == refused_before + 1
    assert len(world.application.received) == received_before  # the application got nothing


async def test_a_disabled_user_is_refused(world: SignInWorld, page: Page) -> None:
    org = await world.new_org(world.user("carol", enable=False))
    refused_before = await world.sign_ins("user_disabled")
    await sign_in(page, world, org, "carol")
    await expect_refused(page, "Your account is disabled")
    assert await world.sign_ins("user_disabled") == refused_before + 1


async def test_a_deleted_tenant_is_refused(world: SignInWorld, page: Page) -> None:
    org = await world.new_org(world.user("dave"))
    delete = world.call(Interface.TENANT_SYNC, org.tenant_id, tenantCode=org.tenant_code, flag=int(Flag.DELETE))
    # The platform's identity service still knows the account: only the synced state refuses it.
    await world.merchant_receives(delete)
    tokens_before = len(world.identity.issued)
    refused_before = await world.sign_ins("tenant_deleted")
    await sign_in(page, world, org, "dave")
    await expect_refused(page, "Your organisation's subscription has ended")
    assert await world.sign_ins("tenant_deleted") == refused_before + 1
    assert len(world.identity.issued) == tokens_before + 1  # the code only: it was never exchanged


async def test_a_user_not_synced_yet_is_told_to_try_again_and_then_gets_in(world: SignInWorld, page: Page) -> None:
    org = await world.new_org(world.user("erin"))
    grant = world.authorise(org, world.user("frank"))
    await world.platform_sends(grant, synced=False)  # the platform has him; its authSync is on its way
    refused_before = await world.sign_ins("user_not_synced")
    await sign_in(page, world, org, "frank")
    await expect_refused(page, "Your account is being set up")
    await expect(page.get_by_role("alert")).to_contain_text("try again in a minute")
    assert await world.sign_ins("user_not_synced") == refused_before + 1

    await world.merchant_receives(grant)
    await sign_in(page, world, org, "frank")
    await expect_signed_in(page, world, org, "frank")


async def test_a_replayed_code_is_refused(world: SignInWorld, page: Page) -> None:
    org = await world.new_org(world.user("grace"))
    callbacks: list[str] = []

    def remember(request: Request) -> None:
        if "/signin/callback/" in request.url:
            callbacks.append(request.url)

    page.on("request", remember)
    await sign_in(page, world, org, "grace")
    await expect_signed_in(page, world, org, "grace")
    [used] = callbacks

    refused_before = await world.sign_ins("invalid_grant")
    await page.goto(world.login_url(org))  # a fresh login start: only the code is stale
    await page.goto(used)
    await expect_refused(page, "This sign-in link was already used or has expired")
    assert await world.sign_ins("invalid_grant") == refused_before + 1


async def test_a_forged_callback_with_a_code_of_another_tenant_is_refused(world: SignInWorld, page: Page) -> None:
    attacker, victim = await world.new_org(world.user("mallory")), await world.new_org(world.user("heidi"))
    code = await code_for(world, attacker, "mallory")
    received_before = len(world.application.received)
    refused_before = await world.sign_ins("invalid_grant")

    await page.goto(world.login_url(victim))  # the victim's browser started a sign-in of its own
    forged = f"{world.signin_url}/signin/callback/{victim.app_id}?code={code}&tenant={victim.tenant_id}"
    await page.goto(forged)
    await expect_refused(page, "This sign-in link was already used or has expired")
    assert await world.sign_ins("invalid_grant") == refused_before + 1
    # The attacker's tenant in the URL with the victim's app: that app is not bound to the tenant.
    await page.goto(world.login_url(victim))
    await page.goto(f"{world.signin_url}/signin/callback/{victim.app_id}?code={code}&tenant={attacker.tenant_id}")
    await expect_refused(page, "This application is not set up for your organisation")
    assert len(world.application.received) == received_before


async def test_a_callback_this_browser_did_not_start_is_refused(world: SignInWorld, page: Page) -> None:
    """Login CSRF: a link to the callback with the attacker's code signs no one in without a login start."""
    org = await world.new_org(world.user("ivan"))
    code = await code_for(world, org, "ivan")
    refused_before = await world.sign_ins("login_expired")
    await page.goto(f"{world.signin_url}/signin/callback/{org.app_id}?code={code}&tenant={org.tenant_id}")
    await expect_refused(page, "This sign-in has expired")
    assert await world.sign_ins("login_expired") == refused_before + 1


async def test_a_wrong_secret_is_refused_with_the_hint_in_the_log(world: SignInWorld, page: Page) -> None:
    org = await world.new_org(world.user("judy"))
    stale = world.call(
        Interface.APPLICATION_SYNC,
        org.tenant_id,
        appId=org.app_id,
        clientId=org.client_id,
        clientSecret="not-the-platforms-secret",
        flag=int(Flag.MODIFY),
    )
    await world.merchant_receives(stale)  # the merchant holds a secret the platform does not
    refused_before = await world.sign_ins("invalid_client")
    await sign_in(page, world, org, "judy")
    await expect_refused(page, "Sign-in is not available right now")
    assert await world.sign_ins("invalid_client") == refused_before + 1
    assert "did not decrypt to the platform's" in world.logs.getvalue()


async def test_a_secret_the_merchant_key_cannot_open_is_refused_before_asking_the_platform(
    world: SignInWorld, page: Page
) -> None:
    org = await world.new_org(world.user("ken"))
    foreign = world.call(
        Interface.APPLICATION_SYNC,
        org.tenant_id,
        appId=org.app_id,
        clientId=org.client_id,
        clientSecret=world.seal_with_another_key(org.client_secret),
        flag=int(Flag.MODIFY),
    )
    await world.merchant_receives(foreign, seal=False)
    issued_before, refused_before = len(world.identity.issued), await world.sign_ins("secret_undecryptable")
    await sign_in(page, world, org, "ken")
    await expect_refused(page, "Sign-in is not available right now")
    assert await world.sign_ins("secret_undecryptable") == refused_before + 1
    assert len(world.identity.issued) == issued_before + 1  # the code only: no token was asked for


async def test_an_unknown_tenant_is_refused(world: SignInWorld, page: Page) -> None:
    org = await world.new_org(world.user("leo"))
    refused_before = await world.sign_ins("unknown_tenant")
    await page.goto(world.login_url(org))
    await page.goto(f"{world.signin_url}/signin/callback/{org.app_id}?code=abc&tenant=never-synced")
    await expect_refused(page, "Your organisation is not set up here yet")
    assert await world.sign_ins("unknown_tenant") == refused_before + 1


async def test_a_callback_without_its_code_is_refused(world: SignInWorld, page: Page) -> None:
    org = await world.new_org(world.user("lena"))
    refused_before = await world.sign_ins("bad_callback")
    await page.goto(world.login_url(org))
    await page.goto(f"{world.signin_url}/signin/callback/{org.app_id}?tenant={org.tenant_id}")
    await expect_refused(page, "This sign-in link is incomplete")
    assert await world.sign_ins("bad_callback") == refused_before + 1


async def test_a_logout_for_a_tenant_never_synced_is_refused(world: SignInWorld, page: Page) -> None:
    """The logout's target comes from the synced state only: no tenant, no redirect anywhere."""
    refused_before = await world.logouts("unknown_tenant")
    await page.goto(f"{world.signin_url}/signin/logout?tenant=never-synced")
    await expect_refused(page, "Your organisation is not set up here yet")
    assert urlsplit(page.url).path == "/signin/logout"
    assert await world.logouts("unknown_tenant") == refused_before + 1


async def test_a_platform_that_does_not_answer_is_refused_in_bounded_time(
    world: SignInWorld, page: Page, silent_platform: str
) -> None:
    org = await world.new_org(world.user("mia"))
    moved = world.call(
        Interface.TENANT_SYNC,
        org.tenant_id,
        tenantCode=org.tenant_code,
        domainName=silent_platform,
        flag=int(Flag.MODIFY),
    )
    await world.merchant_receives(moved)  # the merchant is told its auth centre is somewhere that hangs
    refused_before = await world.sign_ins("platform_unreachable")
    await page.goto(world.login_url(org))
    started = time.monotonic()
    await page.get_by_role("button", name="(mia)").click()
    await expect_refused(page, "The marketplace's sign-in service did not answer in time")
    assert time.monotonic() - started < PLATFORM_TIMEOUT_S + 5
    assert await world.sign_ins("platform_unreachable") == refused_before + 1


async def test_no_log_line_holds_a_secret_code_token_or_assertion(world: SignInWorld, page: Page) -> None:
    org = await world.new_org(world.user("nina"))
    await sign_in(page, world, org, "nina")
    await expect_signed_in(page, world, org, "nina")
    await page.goto(world.login_url(org))
    await page.goto(f"{world.signin_url}/signin/callback/{org.app_id}?code=made-up-code-123&tenant={org.tenant_id}")
    await expect_refused(page, "This sign-in link was already used or has expired")

    text = world.logs.getvalue()
    assert "signed in user 'nina'" in text  # the capture sees the sign-in service's lines
    leaked = [
        value
        for value in [*world.secrets_used, *world.identity.issued, *world.application.received, "made-up-code-123"]
        if value and value in text
    ]
    assert not leaked
    assert not _CIPHERTEXT_SHAPED.search(text), _CIPHERTEXT_SHAPED.search(text)


async def test_the_login_start_sets_a_scoped_short_lived_cookie_and_sends_to_the_login_page(
    world: SignInWorld,
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{world.signin_url}/signin/login/app%20x", allow_redirects=False) as answer,
    ):
        assert answer.status == 303
        assert answer.headers["Location"] == world.identity.login_url.replace("{appId}", "app%20x")
        cookie = answer.cookies["syncpipe_signin"]
        assert cookie["path"] == "/signin/callback/"
        assert cookie["httponly"]
        assert cookie["samesite"] == "Lax"
        assert cookie["max-age"] == "600"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["Cache-Control"] == "no-store"
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{world.signin_url}/signin/jwks.json") as answer,
    ):
        jwks = await answer.json()
        assert answer.headers["Cache-Control"] == "public, max-age=300"
    [key] = jwks["keys"]
    assert (key["kty"], key["alg"], key["use"]) == ("EC", "ES256", "sig")
    assert "d" not in key
    async with (
        aiohttp.ClientSession() as session,
        session.head(f"{world.signin_url}/signin/callback/app-x?code=c&tenant=t") as answer,
    ):
        assert answer.status == 405  # a link checker's HEAD spends no code
