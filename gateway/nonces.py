"""The memory of recently used nonces that makes a captured request impossible to replay (SPEC §2)."""

from __future__ import annotations

import heapq

from gateway.errors import NotStored

# Bound on live entries. A nonce of the maximum length costs ~400 bytes here (dict slot, heap slot,
# strings), so the cache stays under ~40 MB; with the default 60 s window an entry lives at most
# 120 s (a timestamp up to 60 s in the future, plus the window), which allows ~800 calls/s sustained.
DEFAULT_MAX_NONCES = 100_000


class NonceCache:
    """Nonces seen inside the signature window, each kept until its request could no longer be accepted.

    Never lets a replay through: when full of live entries it refuses new nonces with NotStored
    (000005, "try again") instead of forgetting one early. Single event loop, no locking: `remember`
    checks and records without yielding.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_NONCES) -> None:
        self._max_entries = max_entries
        self._expires_at: dict[str, float] = {}
        # Min-heap of (expiry, nonce). May hold stale pairs for released nonces; they are skipped
        # when they surface, and expire like any other entry, so the heap stays bounded too.
        self._by_expiry: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._expires_at)

    def remember(self, nonce: str, expires_at: float, now: float) -> bool:
        """Record `nonce` until `expires_at`; False if it is already recorded (a replay)."""
        self._forget_expired(now)
        if nonce in self._expires_at:
            return False
        if len(self._expires_at) >= self._max_entries:
            raise NotStored("too many calls inside the signature window to check for replays; try again")
        self._expires_at[nonce] = expires_at
        heapq.heappush(self._by_expiry, (expires_at, nonce))
        return True

    def release(self, nonce: str) -> None:
        """Forget `nonce`, so that the identical request may be sent again (its call was not stored)."""
        self._expires_at.pop(nonce, None)

    def _forget_expired(self, now: float) -> None:
        while self._by_expiry and self._by_expiry[0][0] <= now:
            expires_at, nonce = heapq.heappop(self._by_expiry)
            if self._expires_at.get(nonce) == expires_at:
                del self._expires_at[nonce]
