"""The memory of recently used nonces that makes a captured request impossible to replay (SPEC §2)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from gateway.errors import GatewayError, NotStored

# Bound on live entries (SYNCPIPE_GATEWAY_NONCE_CAPACITY). An entry costs ~40 bytes here (its dict slot
# and bucket slot) plus the nonce string it keeps alive (81 bytes for the platform's 32 characters, 177
# for the longest allowed), so a full cache of a million takes ~120 MB (~220 MB at the longest). An
# entry lives until its timestamp leaves the window, rounded up to a whole second: ~61 s with the
# default window and the platform's clock in step with ours, which sustains ~16,000 calls/s; up to
# 121 s for a timestamp 60 s in the future (~8,200 calls/s if every call came that early).
DEFAULT_MAX_NONCES = 1_000_000


class NonceCache:
    """Nonces seen inside the signature window, each kept until its request could no longer be accepted.

    Never lets a replay through: when full of live entries it refuses new nonces with NotStored
    (000005, "try again") instead of forgetting one early. Single event loop, no locking: `remember`
    checks and records without yielding.

    Nonces are kept in buckets by the whole second at which they may be forgotten (their expiry
    rounded up), and a bucket is dropped whole once that second has come. An entry is therefore kept
    up to a second past its expiry, never less; in exchange it costs one list slot, where a heap of
    (expiry, nonce) pairs cost three times the memory and twice the time per call.
    """

    def __init__(self, max_entries: int = DEFAULT_MAX_NONCES) -> None:
        self._max_entries = max_entries
        # Nonce -> the bucket that holds it (the list object, shared by every nonce of that second).
        self._bucket_of: dict[str, list[str]] = {}
        # Second -> its bucket. A bucket may also list nonces released (or released and remembered
        # again into a later bucket) since; dropping it skips them.
        self._buckets: dict[int, list[str]] = {}
        # Min-heap of the seconds that have a bucket: a few hundred at most (the window, twice, plus
        # the platform's clock skew).
        self._seconds: list[int] = []

    def __len__(self) -> int:
        return len(self._bucket_of)

    def remember(self, nonce: str, expires_at: float, now: float) -> bool:
        """Record `nonce` until at least `expires_at`; False if it is already recorded (a replay).

        A nonce is refused for every `now` before `expires_at` and forgotten from the first whole
        second at or after it.
        """
        if self._seconds and self._seconds[0] <= now:
            self._forget_expired(now)
        if nonce in self._bucket_of:
            return False
        if len(self._bucket_of) >= self._max_entries:
            raise NotStored("too many calls inside the signature window to check for replays; try again")
        second = math.ceil(expires_at)
        bucket = self._buckets.get(second)
        if bucket is None:
            bucket = self._buckets[second] = []
            heapq.heappush(self._seconds, second)
        bucket.append(nonce)
        self._bucket_of[nonce] = bucket
        return True

    def release(self, nonce: str) -> None:
        """Forget `nonce`, so that the identical request may be sent again (its call was not stored)."""
        self._bucket_of.pop(nonce, None)

    def _forget_expired(self, now: float) -> None:
        bucket_of = self._bucket_of
        while self._seconds and self._seconds[0] <= now:
            bucket = self._buckets.pop(heapq.heappop(self._seconds))
            for nonce in bucket:
                if bucket_of.get(nonce) is bucket:
                    del bucket_of[nonce]


@contextmanager
def released_unless_stored(release: Callable[[], None]) -> Iterator[None]:
    """Around storing a verified call: its nonce stays remembered only if the call was stored or was
    refused for its content. Not stored (a retriable refusal, a cancellation, a bug), the nonce is
    released so that the platform may send the identical request again."""
    try:
        yield
    except GatewayError as error:
        if error.retriable:
            release()
        raise
    except BaseException:
        release()
        raise
