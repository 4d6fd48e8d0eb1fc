"""Headless Chromium from Debian's package, driven by Playwright (never Playwright's own browser download)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from playwright.async_api import Page, expect

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags Chromium keeps dialling Google's hosts, which this closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = (
    f"the console's end-to-end tests need Debian's Chromium at {CHROMIUM}: "
    "install it with `apt-get install -y chromium` (./dev test does so when run as root)"
)

# Every run takes its screenshots; only SYNCPIPE_UPDATE_SCREENSHOTS=1 writes the committed ones
# under docs/, so an ordinary test run leaves the work tree clean.
SCREENSHOTS = (
    Path(__file__).resolve().parents[3] / "docs" / "screenshots"
    if os.environ.get("SYNCPIPE_UPDATE_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "syncpipe-console-screenshots"
)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


async def sign_in(page: Page, console_url: str, token: str) -> None:
    """Open the console and sign in with `token` through its form, as an operator does."""
    await page.goto(console_url)
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()


async def signed_in(page: Page, console_url: str, token: str) -> None:
    await sign_in(page, console_url, token)
    await expect(page.get_by_role("navigation", name="Console sections")).to_be_visible()


async def screenshot(page: Page, name: str, *, down_to: str | None = None, full_page: bool = True) -> Path:
    """The whole page (or what the screen shows), or from its top down to the end of the element
    `down_to` (a CSS selector)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    if down_to is None:
        await page.screenshot(path=str(path), full_page=full_page)
        return path
    await page.evaluate("window.scrollTo(0, 0)")
    box = await page.locator(down_to).bounding_box()
    assert box is not None, f"{down_to} is not on the page"
    width = page.viewport_size["width"] if page.viewport_size else 1280
    clip = {"x": 0, "y": 0, "width": width, "height": box["y"] + box["height"] + 16}
    await page.screenshot(path=str(path), full_page=True, clip=clip)
    return path
