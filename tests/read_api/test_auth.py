"""Every /v1 route needs the bearer token; only the health check is open."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from read_api import build_api_app
from read_api.exceptions import ApiNotConfigured

V1_PATHS = [
    "/v1/tenants/t-1",
    "/v1/tenants/t-1/departments",
    "/v1/tenants/t-1/departments?format=tree",
    "/v1/tenants/t-1/users",
    "/v1/tenants/t-1/applications",
    "/v1/events/0123456789abcdef0123456789abcdef",
    "/v1/no-such-route",  # an unknown route is not revealed to a caller without the token
]

Client = TestClient[web.Request, web.Application]


async def assert_unauthorized(client: Client, path: str, headers: dict[str, str]) -> None:
    response = await client.get(path, headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = await response.json()
    assert set(body) == {"error"}
    assert body["error"]


@pytest.mark.parametrize("path", V1_PATHS)
async def test_a_missing_token_is_refused(client: Client, path: str) -> None:
    await assert_unauthorized(client, path, {})


@pytest.mark.parametrize("path", V1_PATHS)
async def test_a_wrong_token_is_refused(client: Client, api_token: str, path: str) -> None:
    await assert_unauthorized(client, path, {"Authorization": "Bearer not-the-token"})
    await assert_unauthorized(client, path, {"Authorization": f"Bearer {api_token}x"})
    await assert_unauthorized(client, path, {"Authorization": f"Bearer {api_token[:-1]}"})


@pytest.mark.parametrize("path", V1_PATHS)
@pytest.mark.parametrize(
    "header",
    ["{token}", "Basic {token}", "Bearer", "Bearer ", "Bearer {token} {token}", "Token {token}", "Bearer:{token}"],
)
async def test_a_malformed_header_is_refused(client: Client, api_token: str, path: str, header: str) -> None:
    await assert_unauthorized(client, path, {"Authorization": header.format(token=api_token)})


@pytest.mark.parametrize("path", V1_PATHS)
async def test_the_right_token_passes(client: Client, api_token: str, path: str) -> None:
    response = await client.get(path, headers={"Authorization": f"Bearer {api_token}"})
    assert response.status in {200, 404}


async def test_the_scheme_is_case_insensitive(client: Client, api_token: str) -> None:
    response = await client.get("/v1/tenants/t-1/users", headers={"Authorization": f"bearer {api_token}"})
    assert response.status == 200


async def test_the_health_check_is_open(client: Client) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


@pytest.mark.parametrize("token", ["", " ", "two words", "trailing\n"])
def test_the_app_refuses_a_token_that_cannot_be_presented(token: str) -> None:
    with pytest.raises(ApiNotConfigured, match="SYNCPIPE_API_TOKEN"):
        build_api_app(pool=None, api_token=token)
