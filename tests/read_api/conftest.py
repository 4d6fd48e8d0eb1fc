"""The read API over a real, migrated Postgres of its own per test, called through a real HTTP server."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from read_api import build_api_app
from tests.running import ServedLikeAProcess


@dataclass
class ReadApi:
    """The API as a merchant's application calls it: with the right bearer token unless told otherwise."""

    client: TestClient[web.Request, web.Application]
    token: str

    async def get(self, path: str, **params: str) -> tuple[int, Any]:
        response = await self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.token}"})
        return response.status, await response.json()


@pytest.fixture
async def pool(migrated_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(migrated_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def api_token() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
async def client(pool: asyncpg.Pool, api_token: str) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(ServedLikeAProcess(build_api_app(pool, api_token))) as client:
        yield client


@pytest.fixture
def api(client: TestClient[web.Request, web.Application], api_token: str) -> ReadApi:
    return ReadApi(client, api_token)


@pytest.fixture
def tenant_id() -> str:
    return f"tenant-{uuid.uuid4().hex[:12]}"
