"""The operator console in headless Chromium against the real pipeline: sign in, overview, a simulated
tenant's tree checked against the read API, an event followed to its ack, a dead letter retried, the
instances of the order lifecycle."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import asyncpg
import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from schemas.calls import Interface
from schemas.instance_calls import derive_instance_id
from syncpipe.simulation.generator import PlatformCall
from tests.gateway.platform import sample_body
from tests.read_api.browser.browser import DESKTOP, PHONE, screenshot, sign_in, signed_in
from tests.read_api.browser.conftest import LATE, World
from tests.read_api.instance_seed import apply_instance_calls

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser context per test (nothing kept between them: no token, no storage)."""
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    await context.close()
    assert not errors, f"the page raised: {errors}"


async def test_a_wrong_token_sees_nothing(world: World, page: Page) -> None:
    await sign_in(page, world.console_url, "not-the-token")
    await expect(page.get_by_role("alert")).to_have_text("That token was refused.")
    await expect(page.get_by_role("navigation", name="Console sections")).to_be_hidden()
    # Even going straight to a tenant's page with a forged token shows the sign-in form and no data.
    await page.evaluate("sessionStorage.setItem('read_api.console.token', 'forged')")
    await page.goto(f"{world.console_url}#/tenants/{world.tenant_id}")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.locator("#sign-in-error")).to_have_text(re.compile("refused"))
    await expect(page.locator("#view")).to_be_empty()
    body = await page.locator("body").inner_text()
    assert world.tenant_name not in body
    assert await page.evaluate("sessionStorage.getItem('read_api.console.token')") is None


async def test_the_overview_shows_the_simulated_traffic_and_refreshes_itself(world: World, page: Page) -> None:
    await signed_in(page, world.console_url, world.pipeline.token)
    await expect(page.get_by_role("heading", name="Overview", level=1)).to_be_visible()
    overview: Any = await world.pipeline.read("/v1/overview")
    applied = overview["finished"]["byStatus"]["applied"]
    await expect(page.locator('#status-counts li[data-status="applied"] strong')).to_have_text(f"{applied:,}")
    await expect(page.locator('[data-stat="acks"] .stat-value')).to_have_text("0")
    # The worker ran retention at its start: the horizon it applied and the oldest event kept.
    await expect(page.locator('[data-stat="retention"] .stat-detail')).to_contain_text("kept 30.0 d")
    await expect(page.locator('[data-stat="retention"] .stat-value')).to_contain_text("ago")
    await expect(page.locator(".chart-svg rect").first).to_be_attached()
    for interface in ("tenantSync", "singleOrgSync", "authSync"):
        await expect(page.locator(f'#rates tr[data-interface="{interface}"]')).to_be_visible()
    # This process runs the worker: the lag is read from its metrics, one row per partition.
    await page.locator('[data-stat="lag"] summary').click()
    await expect(page.locator('[data-stat="lag"] tbody tr')).to_have_count(4)
    first = await page.locator("#overview-updated").inner_text()
    await expect(page.locator("#overview-updated")).not_to_have_text(first, timeout=8000)
    await screenshot(page, "overview-1280")
    await page.set_viewport_size(PHONE)
    await screenshot(page, "overview-375")


async def test_a_simulated_tenant_is_found_and_its_tree_matches_the_read_api(world: World, page: Page) -> None:
    await signed_in(page, world.console_url, world.pipeline.token)
    await page.get_by_role("link", name="Tenants").click()
    await page.get_by_label("Tenant id, name or code").fill(world.tenant_name)
    await page.get_by_role("button", name="Search").click()
    await page.locator(f'a[data-tenant-id="{world.tenant_id}"]').click()
    await expect(page.get_by_role("heading", name=world.tenant_name, level=1)).to_be_visible()

    tree = page.locator("#department-tree")
    toggles = tree.locator("button.tree-toggle")
    await expect(toggles.first).to_have_attribute("aria-expanded", "false")
    while await tree.locator('button.tree-toggle[aria-expanded="false"]').count():
        controls = await tree.locator('button.tree-toggle[aria-expanded="false"]').first.get_attribute("aria-controls")
        toggle = tree.locator(f'button[aria-controls="{controls}"]')
        await toggle.press("Enter")  # a real button: the keyboard opens it
        await expect(toggle).to_have_attribute("aria-expanded", "true")
        await expect(page.locator(f"#{controls}")).to_be_visible()
    shown = await tree.evaluate(
        """tree => Object.fromEntries([...tree.querySelectorAll("li[data-org-code]")].map(item => {
            const parent = item.parentElement.closest("li[data-org-code]");
            return [item.dataset.orgCode, {
                parent: parent ? parent.dataset.orgCode : null,
                orphan: !!item.querySelector(":scope > .tree-row [data-value=orphan]"),
                cycle: !!item.querySelector(":scope > .tree-row [data-value=cycle]"),
                name: item.querySelector(":scope > .tree-row .tree-name").textContent,
            }];
        }))"""
    )
    served: Any = await world.pipeline.read(f"/v1/tenants/{world.tenant_id}/departments?format=tree")
    assert shown == _flatten(served["departments"])
    assert shown["E2E-ORPHAN"]["orphan"]
    assert shown["E2E-LOOP-A"]["cycle"]
    assert shown["E2E-LOOP-B"]["cycle"]

    users: Any = await world.pipeline.read(f"/v1/tenants/{world.tenant_id}/users")
    await expect(page.locator("#users-table tbody tr")).to_have_count(len(users["users"]))
    await page.get_by_role("button", name="Collapse all").click()
    await expect(tree.locator('button.tree-toggle[aria-expanded="true"]')).to_have_count(0)
    await page.get_by_role("button", name="Expand all").click()
    await expect(tree.locator('button.tree-toggle[aria-expanded="false"]')).to_have_count(0)
    await screenshot(page, "tenant-tree-1280", down_to="#tenant-departments")
    await page.set_viewport_size(PHONE)
    await screenshot(page, "tenant-tree-375", down_to="#tenant-departments")


def _flatten(nodes: list[dict[str, Any]], parent: str | None = None) -> dict[str, dict[str, Any]]:
    flat: dict[str, dict[str, Any]] = {}
    for node in nodes:
        flat[node["orgCode"]] = {
            "parent": parent,
            "orphan": node["orphan"],
            "cycle": node["cycle"],
            "name": node["orgName"],
        }
        flat |= _flatten(node["children"], node["orgCode"])
    return flat


async def test_an_event_is_followed_from_the_timeline_to_its_ack(world: World, page: Page) -> None:
    await signed_in(page, world.console_url, world.pipeline.token)
    await page.goto(f"{world.console_url}#/tenants/{world.tenant_id}")
    row = page.locator("#events-table tbody tr").filter(has_text="applicationSync").filter(has_text="applied").first
    await expect(row).to_contain_text("ack sent")
    event_id = await row.locator("a.event-link").get_attribute("data-event-id")
    assert event_id is not None
    await row.locator("a.event-link").click()

    await expect(page.locator("#event-status")).to_have_text("applied")
    await expect(page.locator("#acks-table tbody tr")).to_have_count(1)
    await expect(page.locator("#acks-table tbody tr")).to_contain_text("sent")
    await expect(page.locator('#event-history li[data-status="ack_sent"]')).to_have_count(1)
    status: Any = await world.pipeline.read(f"/v1/events/{event_id}")
    assert status["ack"]["state"] == "sent"
    assert world.pipeline.acks.first_status(event_id) == "applied"  # the platform did get it
    await screenshot(page, "event-1280")
    payload = await page.locator("#event-payload").inner_text()
    assert '"clientSecret": "[redacted]"' in payload
    detail: Any = await world.pipeline.read(f"/v1/events/{event_id}/detail")
    assert detail["payload"]["clientSecret"] == "[redacted]"
    await page.locator("#event-tenant").click()
    await expect(page.get_by_role("heading", name=world.tenant_name, level=1)).to_be_visible()


async def test_a_dead_letter_is_retried_and_its_event_becomes_applied(world: World, page: Page) -> None:
    pipeline = world.pipeline
    # A bad deploy: applying this department fails, not retriably, until the fix ships.
    await pipeline.execute(
        "CREATE FUNCTION e2e_broken() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE EXCEPTION 'deploy 41 cannot store department %', NEW.org_code; END $$;"
        " CREATE TRIGGER e2e_broken BEFORE INSERT OR UPDATE ON departments FOR EACH ROW"
        " WHEN (NEW.org_code = 'E2E-REDRIVEN') EXECUTE FUNCTION e2e_broken()"
    )
    call = PlatformCall(
        Interface.SINGLE_ORG_SYNC,
        {
            "tenantId": world.tenant_id,
            "timeStamp": f"{LATE}100",
            "flag": 1,
            "orgCode": "E2E-REDRIVEN",
            "orgName": "重投部",
        },
    )
    [event_id] = await pipeline.send(call)
    await pipeline.wait_until("SELECT EXISTS (SELECT 1 FROM dead_letters WHERE event_id = $1)", event_id)
    await pipeline.execute("DROP TRIGGER e2e_broken ON departments; DROP FUNCTION e2e_broken()")  # the fix ships

    await signed_in(page, world.console_url, pipeline.token)
    await expect(page.locator('[data-stat="dead-letters"] .stat-value')).to_have_text("1")
    await page.get_by_role("link", name="Dead letters").click()
    letter = page.locator(f'li[data-event-id="{event_id}"]')
    await expect(letter.locator(".reason")).to_contain_text("deploy 41 cannot store department E2E-REDRIVEN")
    await letter.get_by_role("button", name="Show record").click()
    await expect(letter.locator("pre.payload")).to_contain_text("E2E-REDRIVEN")

    await letter.locator('button[data-action="retry"]').click()
    dialog = page.get_by_role("dialog")
    await screenshot(page, "dead-letter-retry-1280", full_page=False)  # a modal covers the screen only
    await expect(dialog).to_contain_text(event_id)
    await dialog.get_by_role("button", name="Cancel").click()  # nothing happens without confirmation
    await expect(letter).to_be_visible()
    await letter.locator('button[data-action="retry"]').click()
    await dialog.get_by_role("button", name="Retry").click()

    outcome = page.locator('#dead-letter-outcome li[data-result="applied"]')
    await expect(outcome).to_be_visible()
    await expect(page.get_by_text("No dead letters waiting.")).to_be_visible()
    await outcome.get_by_role("link").click()
    await expect(page.locator("#event-status")).to_have_text("applied")
    await expect(page.locator("#event-history")).to_contain_text("re-driven from its dead letter")
    status: Any = await pipeline.read(f"/v1/events/{event_id}")
    assert status["status"] == "applied"
    departments: Any = await pipeline.read(f"/v1/tenants/{world.tenant_id}/departments")
    assert "E2E-REDRIVEN" in [department["orgCode"] for department in departments["departments"]]


async def test_instances_are_listed_by_status_and_one_shows_its_lifecycle(world: World, page: Page) -> None:
    pipeline = world.pipeline
    prefix = uuid.uuid4().hex[:8]
    order, line = f"CS-{prefix}", f"CS-{prefix}-000001"
    instance = derive_instance_id(order, line)
    released = derive_instance_id(f"CS-{prefix}-B", "1")
    renew = {"scene": "RENEWAL", "orderId": f"CS-{prefix}-R", "orderLineId": "R-1", "expireTime": "20271231160000"}
    connection = await asyncpg.connect(pipeline.database_url)
    try:
        await apply_instance_calls(
            connection,
            [
                (10, {"activity": "newInstance", "orderId": order, "orderLineId": line}),
                (20, {"activity": "refreshInstance", "instanceId": instance, "productId": "OFFI-PLAN-2", **renew}),
                (30, {"activity": "updateInstanceStatus", "instanceId": instance, "status": "FREEZE"}),
                (40, {"activity": "newInstance", "orderId": f"CS-{prefix}-B", "orderLineId": "1"}),
                (50, {"activity": "releaseInstance", "instanceId": released}),
            ],
            first_offset=1_000_000,
        )
    finally:
        await connection.close()
    # The acker sends the seeded events' acks (the simulator's receiver takes them): each row says "ack sent".
    await pipeline.wait_until(
        "SELECT NOT EXISTS (SELECT 1 FROM ack_outbox JOIN events USING (event_id)"
        " WHERE events.instance_id = $1 AND ack_outbox.sent_at IS NULL)",
        instance,
    )
    async with (
        aiohttp.ClientSession() as session,
        session.put(
            f"{pipeline.api_url}/v1/instances/{instance}/app-info",
            json={"frontEndUrl": "https://app.example/i/e2e", "password": "never-shown"},
            headers={"Authorization": f"Bearer {pipeline.token}"},
        ) as response,
    ):
        assert response.status == 200

    await signed_in(page, world.console_url, pipeline.token)
    await page.get_by_role("link", name="Instances").click()
    await expect(page.locator(f'a[data-instance-id="{instance}"]')).to_be_visible()
    await page.get_by_label("Status").select_option("released")
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator(f'a[data-instance-id="{released}"]')).to_be_visible()
    await expect(page.locator(f'a[data-instance-id="{instance}"]')).to_have_count(0)
    await page.goto(f"{world.console_url}#/instances/{instance}")
    await expect(page.locator("#view h1 [data-value]")).to_have_text("frozen")
    await expect(page.locator("#instance-id")).to_have_text(instance)
    await expect(page.locator(".page-head")).to_contain_text("2027-12-31 16:00:00")
    await expect(page.locator(".page-head")).to_contain_text("OFFI-PLAN-2")
    await expect(page.locator("#orders-table tbody tr")).to_have_count(2)
    await expect(page.locator("#instance-app-info")).to_contain_text("https://app.example/i/e2e")
    await expect(page.locator("#instance-app-info")).to_contain_text("set (never shown)")
    assert "never-shown" not in await page.locator("body").inner_text()
    rows = page.locator("#instance-events-table tbody tr")
    await expect(rows).to_have_count(3)
    await expect(rows.first).to_contain_text("updateInstanceStatus")
    await expect(rows.locator("td:nth-child(4)")).to_have_text(["applied"] * 3)
    await expect(rows.locator("td:nth-child(5)")).to_have_text(["ack sent"] * 3)
    await screenshot(page, "instance-1280")
    await rows.first.locator("a.event-link").click()
    await expect(page.locator("#event-status")).to_have_text("applied")
    await page.locator("#event-instance").click()  # an instance call leads back to its instance
    await expect(page.locator("#instance-id")).to_have_text(instance)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "375"])
async def test_every_page_fits_the_screen_and_every_control_takes_the_keyboard(
    world: World, page: Page, viewport: dict[str, int]
) -> None:
    await page.set_viewport_size(viewport)
    await signed_in(page, world.console_url, world.pipeline.token)
    routes = ("#/overview", f"#/tenants/{world.tenant_id}", "#/dead-letters?state=all", "#/tenants?search=sim")
    for route in (*routes, "#/instances"):
        await page.goto(f"{world.console_url}{route}")
        await expect(page.locator("#view h1")).to_be_focused()
        await page.wait_for_load_state("networkidle")
        overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{route} is {overflow} px wider than a {viewport['width']} px screen"
        words = set(re.findall(r"\w+", await page.locator("#view").inner_text()))
        assert not words & {"null", "undefined", "NaN"}, f"{route} shows a value that is not there"
        # Everything clickable is a link, a button or a form control (no clickable divs).
        clickable = await page.evaluate(
            """() => [...document.querySelectorAll("[onclick], div[tabindex], span[tabindex]")].length"""
        )
        assert clickable == 0
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.tagName")
    assert focused in {"A", "BUTTON", "INPUT", "SELECT"}


async def test_tenants_whose_ids_are_dot_segments_show_their_own_pages(world: World, page: Page) -> None:
    """A browser removes "." and ".." from a URL's path, %2E too: tenant "." was fetched as
    /v1/tenants/users (another tenant's page), tenant ".." as /v1/users (not found)."""
    names = {tenant_id: f"E2E tenant {tenant_id!r}" for tenant_id in (".", "..", "users", "~")}
    calls = [
        PlatformCall(Interface.TENANT_SYNC, sample_body("tenantSync", tenant_id, name=name, timeStamp=f"{LATE}001"))
        for tenant_id, name in names.items()
    ]
    event_ids = dict(zip(names, await world.pipeline.send(*calls), strict=True))
    await world.pipeline.wait_until(
        "SELECT count(*) = 4 FROM tenants WHERE tenant_id = ANY($1::text[]) AND name LIKE 'E2E tenant%'", list(names)
    )
    await signed_in(page, world.console_url, world.pipeline.token)
    for tenant_id, name in names.items():
        await page.goto(f"{world.console_url}#/tenants/{quote(tenant_id, safe='')}")
        await expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
        await expect(page.locator(f'#events-table a[data-event-id="{event_ids[tenant_id]}"]')).to_be_visible()
