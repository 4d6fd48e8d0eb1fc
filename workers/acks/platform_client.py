"""One ack POST to the platform's callback URL, signed as SPEC §2 signs the platform's own calls."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from schemas.canonical import canonical_json, sign
from workers.acks.errors import AckNotDelivered

# Enough of an error answer to tell a proxy's HTML page from the platform's JSON, no more.
_ERROR_BODY_CHARS = 200


class PlatformAckClient:
    """POSTs ack bodies to `url` through `session`, signed with `access_key`.

    The bytes sent are the canonical JSON of the body (top-level keys sorted, compact, non-ASCII
    as is): exactly the text that was signed, so a receiver that signs the raw body and one that
    re-canonicalises the parsed body both find the same signature. A fresh nonce and the current
    time go with every attempt, so a retried ack is never refused as a replay.
    """

    def __init__(self, session: aiohttp.ClientSession, url: str, access_key: str, timeout_s: float) -> None:
        self._session = session
        self._url = url
        self._access_key = access_key
        self._timeout_s = timeout_s
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def deliver(self, body: Mapping[str, Any]) -> None:
        """Return once the platform answered 2xx; raise AckNotDelivered otherwise (within the timeout)."""
        canonical = canonical_json(body)  # once: it is both what is signed and what is sent
        nonce, timestamp = secrets.token_hex(16), str(time.time_ns() // 1_000_000)
        headers = {
            "x-sign": sign(self._access_key, nonce, timestamp, canonical),
            "x-timestamp": timestamp,
            "x-nonce": nonce,
            "Content-Type": "application/json; charset=utf-8",
        }
        payload = canonical.encode()
        try:
            async with self._session.post(self._url, data=payload, headers=headers, timeout=self._timeout) as answer:
                if 200 <= answer.status < 300:
                    return
                detail = (await answer.content.read(_ERROR_BODY_CHARS)).decode(errors="replace")
        except TimeoutError:
            raise AckNotDelivered(f"no answer within {self._timeout_s:g} s") from None
        except aiohttp.ClientError as exc:
            raise AckNotDelivered(f"{type(exc).__name__}: {exc}") from None
        raise AckNotDelivered(f"HTTP {answer.status}: {detail.strip()}")
