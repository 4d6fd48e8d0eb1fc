"""What the marketplace sends: valid bodies for the five calls, signed the way the platform signs them."""

from __future__ import annotations

import io
import json
import secrets
import time
from typing import Any

from schemas.calls import Interface
from schemas.canonical import signed_headers
from schemas.exceptions import InvalidCall
from schemas.instance_body import read_instance_body
from schemas.instance_signature import signed_query

DROP: Any = object()


def sample_body(interface: Interface | str, tenant_id: str, **overrides: Any) -> dict[str, Any]:
    """A body that `parse_call` accepts for `interface`; `overrides` replace fields (or drop them, given DROP)."""
    common: dict[str, Any] = {
        "instanceId": "inst-1",
        "tenantId": tenant_id,
        "testFlag": 0,
        "timeStamp": "20260105093000123",
    }
    own: dict[str, dict[str, Any]] = {
        Interface.TENANT_SYNC: {"orderId": "o-1", "tenantCode": "acme", "name": "ACME", "flag": 1},
        Interface.APPLICATION_SYNC: {"appId": "app-1", "clientId": "client-1", "clientSecret": "", "flag": 1},
        Interface.AUTH_SYNC: {
            "appId": "app-1",
            "flag": 1,
            "currentSyncTime": "20260105093000123",
            "userList": [{"userName": "ada", "name": "Ada", "orgCode": "rnd", "role": "admin", "enable": "true"}],
        },
        Interface.SINGLE_ORG_SYNC: {"orgCode": "rnd", "orgName": "R&D", "parentCode": "", "flag": 1},
        Interface.ALL_ORG_SYNC: {
            "orgInfoList": [
                {"orgCode": "root", "orgName": "ACME", "parentCode": ""},
                {"orgCode": "rnd", "orgName": "R&D", "parentCode": "root"},
            ]
        },
    }
    body = {**common, **own[Interface(interface)], **overrides}
    return {key: value for key, value in body.items() if value is not DROP}


def signed(
    access_key: str,
    body: dict[str, Any] | bytes,
    *,
    nonce: str | None = None,
    timestamp_ms: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The raw body and the three headers for it; a dict body is serialised as the platform would."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    parsed = json.loads(raw)
    headers = signed_headers(
        access_key,
        nonce if nonce is not None else secrets.token_hex(16),
        timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        parsed,
    )
    return raw, {**headers, "Content-Type": "application/json"}


async def post_call(http: Any, interface: str, raw: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """POST a call with an aiohttp ClientSession or TestClient; the HTTP status and the JSON answer."""
    # A stream, because aiohttp warns about sending large raw bytes in one write.
    async with http.post(f"/produceAPI/v2/{interface}", data=io.BytesIO(raw), headers=headers) as response:
        return response.status, await response.json()


def signed_instance(
    access_key: str,
    body: dict[str, Any] | bytes,
    *,
    nonce: str | None = None,
    timestamp_ms: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """An instance call (SPEC §9): the raw body and the query parameters signing it (a body that has no
    map form is refused before its signature is looked at: it is signed as an empty map)."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    try:
        signed_map = read_instance_body(raw)
    except InvalidCall:
        signed_map = {}
    query = signed_query(
        access_key,
        nonce if nonce is not None else secrets.token_hex(16),
        timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
        signed_map,
    )
    return raw, query


async def post_instance_call(
    http: Any, raw: bytes, query: dict[str, str], path: str = "/"
) -> tuple[int, dict[str, Any]]:
    """POST an instance call to the base path; the HTTP status and the JSON answer."""
    headers = {"Content-Type": "application/json"}
    async with http.post(path, params=query, data=io.BytesIO(raw), headers=headers) as response:
        return response.status, await response.json()
