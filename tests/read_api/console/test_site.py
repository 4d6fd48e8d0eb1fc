"""The console's pages: open, holding no data, only the shipped files; its data routes need the token."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from read_api.console.site import console_assets

Client = TestClient[web.Request, web.Application]

CONSOLE_DATA_ROUTES = [
    ("GET", "/v1/overview"),
    ("GET", "/v1/tenants"),
    ("GET", "/v1/tenants?search=acme"),
    ("GET", "/v1/tenants/t-1/events"),
    ("GET", "/v1/events/0123456789abcdef0123456789abcdef/detail"),
    ("GET", "/v1/dead-letters"),
    ("GET", "/v1/dead-letters/1"),
    ("POST", "/v1/dead-letters/1/retry"),
    ("POST", "/v1/dead-letters/1/drop"),
    ("POST", "/v1/dead-letters/retry"),
]


@pytest.mark.parametrize(("method", "path"), CONSOLE_DATA_ROUTES)
@pytest.mark.parametrize("header", [None, "Bearer not-the-token"])
async def test_every_console_data_route_needs_the_token(
    client: Client, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.request(method, path, headers=headers, json={"all": True} if method == "POST" else None)
    assert response.status == 401
    assert set(await response.json()) == {"error"}


async def test_the_console_page_is_served_without_a_token_and_holds_no_data(client: Client) -> None:
    response = await client.get("/console/")
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    assert '<script type="module" src="static/js/main.js">' in page
    assert 'id="sign-in-form"' in page
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_the_bare_console_path_redirects_to_the_page(client: Client) -> None:
    response = await client.get("/console", allow_redirects=False)
    assert response.status == 308
    assert response.headers["Location"] == "/console/"


async def test_every_shipped_file_is_served_with_its_type(client: Client) -> None:
    assets = console_assets()
    assert {"index.html", "console.css", "js/main.js", "js/api.js", "js/pages/overview.js"} <= set(assets)
    for name, asset in assets.items():
        response = await client.get(f"/console/static/{name}")
        assert response.status == 200, name
        assert response.headers["Content-Type"] == asset.content_type
        assert await response.read() == asset.body


@pytest.mark.parametrize(
    "path",
    ["/console/static/nope.js", "/console/static/../app.py", "/console/static/%2e%2e/api/app.py", "/console/other"],
)
async def test_nothing_else_is_served_under_the_console(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status == 404


def test_the_scripts_never_parse_data_as_html() -> None:
    """Names come from the platform: text goes in as text nodes, never through innerHTML and friends."""
    for name, asset in console_assets().items():
        if name.endswith(".js"):
            source = asset.body.decode()
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
                assert sink not in source, f"{name} uses {sink}"


def test_no_asset_comes_from_another_origin() -> None:
    for name, asset in console_assets().items():
        text = asset.body.decode()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", ""), name
        assert "https://" not in text, name
