"""runtime/openapi.json names exactly the routes the apps register, on the server its tags say.

The routes are read from the apps themselves (`app.router.routes()`), so a route added without its
operation, or an operation left behind by a removed route, fails here. Not counted: HEAD (aiohttp
adds one to every GET) and the console's page and scripts under /console (static files, no API).
"""

from __future__ import annotations

import secrets
from typing import Any, cast

import asyncpg
import pytest
from aiohttp import web

from gateway.app import build_app
from gateway.client_secret import ClientSecretChecker
from gateway.verification import SignatureVerifier
from read_api import build_api_app
from read_api.auth import OPEN_PATHS
from read_api.console.site import PREFIX as CONSOLE_SITE
from runtime.openapi import openapi_document
from runtime.ops_server import Metrics, Readiness, add_ops_routes
from runtime.settings import Settings
from tests.gateway.fakes import RecordingPublisher

Operation = tuple[str, str]  # (METHOD, path template)


def registered(app: web.Application) -> set[Operation]:
    operations = set()
    for route in app.router.routes():
        template = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD" or template == CONSOLE_SITE or template.startswith(f"{CONSOLE_SITE}/"):
            continue
        operations.add((route.method, template))
    return operations


def documented(tag: str) -> set[Operation]:
    return {
        (method.upper(), template)
        for template, item in openapi_document()["paths"].items()
        for method, operation in item.items()
        if tag in operation["tags"]
    }


def gateway_app() -> web.Application:
    settings = Settings(access_keys=(secrets.token_urlsafe(24),))  # type: ignore[arg-type]
    verifier = SignatureVerifier.from_settings(settings)
    return build_app(settings, RecordingPublisher(), verifier, ClientSecretChecker(None))


def read_api_app() -> web.Application:
    # Building the app touches no connection: a pool is only used by requests.
    return build_api_app(cast(asyncpg.Pool, object()), secrets.token_urlsafe(24))


def ops_app() -> web.Application:
    """What the worker and the acker serve on their ops port (runtime.ops_server.OpsServer)."""
    app = web.Application()
    add_ops_routes(app, Metrics(), Readiness())
    return app


@pytest.mark.parametrize(
    ("tag", "build"), [("gateway", gateway_app), ("read API", read_api_app), ("operations", ops_app)]
)
def test_every_route_is_documented_and_every_operation_served(tag: str, build: Any) -> None:
    served = registered(build())
    assert served, tag
    assert served - documented(tag) == set(), f"routes of the {tag} missing from runtime/openapi.json"
    assert documented(tag) - served == set(), f"operations tagged {tag!r} that it does not serve"


def test_the_read_api_documents_the_token_it_asks_for() -> None:
    """Every read-API operation but the open ones (auth.OPEN_PATHS) requires the bearer token."""
    for template, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            if "read API" in operation["tags"]:
                expected = [] if template in OPEN_PATHS else [{"bearer": []}]
                assert operation.get("security", []) == expected, (method, template)
                assert ("401" in operation["responses"]) == bool(expected), (method, template)


def test_every_operation_has_a_unique_id() -> None:
    ids = [operation["operationId"] for item in openapi_document()["paths"].values() for operation in item.values()]
    assert len(ids) == len(set(ids))
