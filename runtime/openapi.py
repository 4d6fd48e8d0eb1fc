"""The OpenAPI 3 description of the gateway and the read API (`openapi.json` next to this module).

Both servers serve the same document at `GET /openapi.json`; its tags tell which operations each has.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from aiohttp import web

PATH = "/openapi.json"


@functools.cache
def openapi_document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(resources.files("runtime").joinpath("openapi.json").read_text("utf-8"))
    return document


def add_openapi_route(app: web.Application) -> None:
    async def serve(request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    app.router.add_get(PATH, serve)
