"""Serving the console's files: `/console/` is the page, `/console/static/...` its scripts and styles.

The files hold no data and no secret (everything shown is fetched from /v1 with the bearer token the
operator types in), so they are served without authentication. Only files shipped in `static/` are
served, from a table read once when the app is built: a path cannot reach anything else.
"""

from __future__ import annotations

import functools
from importlib import resources
from importlib.resources.abc import Traversable
from typing import NamedTuple

from aiohttp import hdrs, web

PREFIX = "/console"

_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Scripts and styles only from this origin, no inline script, no framing: data from the platform
# (tenant and department names) is untrusted text, and the page never lets it run.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
        " base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Small files, and a new release must show at once: revalidate every time.
    hdrs.CACHE_CONTROL: "no-cache",
}


class Asset(NamedTuple):
    body: bytes
    content_type: str


@functools.cache
def console_assets() -> dict[str, Asset]:
    """Every file under `static/`, by its path relative to it (`js/main.js`)."""
    assets: dict[str, Asset] = {}
    _collect(resources.files("read_api.console") / "static", "", assets)
    return assets


def _collect(folder: Traversable, prefix: str, assets: dict[str, Asset]) -> None:
    for entry in folder.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            _collect(entry, f"{name}/", assets)
            continue
        suffix = name[name.rfind(".") :]
        if suffix in _CONTENT_TYPES:
            assets[name] = Asset(entry.read_bytes(), _CONTENT_TYPES[suffix])


def add_console_site(app: web.Application) -> None:
    assets = console_assets()

    async def to_page(request: web.Request) -> web.StreamResponse:
        raise web.HTTPPermanentRedirect(f"{PREFIX}/")

    async def page(request: web.Request) -> web.Response:
        return _answer(assets["index.html"])

    async def asset(request: web.Request) -> web.Response:
        found = assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        return _answer(found)

    app.router.add_get(PREFIX, to_page)
    app.router.add_get(f"{PREFIX}/", page)
    app.router.add_get(f"{PREFIX}/static/{{name:.+}}", asset)


def _answer(asset: Asset) -> web.Response:
    return web.Response(body=asset.body, headers={hdrs.CONTENT_TYPE: asset.content_type, **_SECURITY_HEADERS})
