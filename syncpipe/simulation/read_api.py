"""Reading the converged state and event statuses back from the read API (SPEC §7).

Every request carries `Authorization: Bearer {token}`. `GET /v1/events/{eventId}` answers
`{"status": ...}` once the event is known (404 before); the tenant endpoints answer the shapes
documented in `snapshot.py`, the instance endpoint the one `instance_model.served_instance` reads.
Anything else raises ReadApiError. The merchant's application writes one thing: an instance's appInfo.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any
from urllib.parse import quote

import aiohttp

from syncpipe.simulation.concurrency import bounded_gather
from syncpipe.simulation.exceptions import ReadApiError
from syncpipe.simulation.snapshot import Json, TenantSnapshot

# Where an event's story ends (SPEC §6); `accepted` and unknown statuses mean it is still on its way.
FINAL_STATUSES = frozenset({"applied", "duplicate", "stale", "test", "failed", "dead_lettered"})
_SECTIONS = ("departments", "users", "applications")
# Long enough for a tenant with 100k departments to be rendered and sent.
_REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=60)


class ReadApiClient:
    """Reads through one session; `poll_interval_s` paces `wait_settled`."""

    def __init__(
        self, session: aiohttp.ClientSession, api_url: str, token: str, *, poll_interval_s: float = 0.5
    ) -> None:
        self._session = session
        self._base = api_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._poll_interval_s = poll_interval_s

    async def event_status(self, event_id: str) -> str | None:
        """The event's status, or None while the read API does not know it yet."""
        answer = await self._get(f"/v1/events/{quote(event_id, safe='')}")
        if answer is None:
            return None
        if not isinstance(answer, dict) or not isinstance(answer.get("status"), str):
            raise ReadApiError(f"event {event_id}: expected an object with a status, got {answer!r:.200}")
        status: str = answer["status"]
        return status

    async def wait_settled(
        self, event_ids: Collection[str], timeout_s: float, concurrency: int
    ) -> dict[str, str | None]:
        """Poll until every event has a final status or `timeout_s` passed; the last status seen of each."""
        statuses: dict[str, str | None] = dict.fromkeys(event_ids)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        pending = sorted(statuses)
        while pending:
            polled = await bounded_gather(map(self.event_status, pending), concurrency)
            statuses.update(zip(pending, polled, strict=True))
            pending = [event_id for event_id in pending if statuses[event_id] not in FINAL_STATUSES]
            remaining = deadline - loop.time()
            if not pending or remaining <= 0:
                break
            await asyncio.sleep(min(self._poll_interval_s, remaining))
        return statuses

    async def tenant_snapshot(self, tenant_id: str) -> TenantSnapshot:
        """What the read API serves for one tenant (a 404 on a list counts as an empty list)."""
        base = f"/v1/tenants/{quote(tenant_id, safe='')}"
        tenant = await self._get(base)
        if tenant is not None and not isinstance(tenant, dict):
            raise ReadApiError(f"GET {base}: expected an object, got {tenant!r:.200}")
        lists = [await self._list(f"{base}/{section}", section) for section in _SECTIONS]
        return TenantSnapshot(tenant, *lists)

    async def instance(self, instance_id: str) -> Json | None:
        """`GET /v1/instances/{id}` (SPEC §9, the merchant's side), or None on 404."""
        path = f"/v1/instances/{quote(instance_id, safe='')}"
        answer = await self._get(path)
        if answer is not None and not isinstance(answer, dict):
            raise ReadApiError(f"GET {path}: expected an object, got {answer!r:.200}")
        return answer

    async def put_app_info(self, instance_id: str, app_info: Json) -> tuple[int, Json]:
        """`PUT /v1/instances/{id}/app-info` as the merchant's application does: the HTTP status and answer."""
        path = f"/v1/instances/{quote(instance_id, safe='')}/app-info"
        try:
            async with self._session.put(
                self._base + path, json=app_info, headers=self._headers, timeout=_REQUEST_TIMEOUT
            ) as response:
                answer = await response.json(content_type=None)
                return response.status, answer if isinstance(answer, dict) else {}
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ReadApiError(f"PUT {path} failed: {exc!r}") from None

    async def _list(self, path: str, section: str) -> list[Json]:
        answer = await self._get(path)
        if answer is None:
            return []
        items = answer.get(section) if isinstance(answer, dict) else None
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ReadApiError(f"GET {path}: expected {{{section!r}: [objects]}}, got {answer!r:.200}")
        return items

    async def _get(self, path: str) -> Any:
        """The decoded JSON answer, or None on 404."""
        try:
            async with self._session.get(
                self._base + path, headers=self._headers, timeout=_REQUEST_TIMEOUT
            ) as response:
                if response.status == 404:
                    return None
                if response.status != 200:
                    raise ReadApiError(f"GET {path} answered HTTP {response.status}: {await response.text():.200}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ReadApiError(f"GET {path} failed: {exc!r}") from None
