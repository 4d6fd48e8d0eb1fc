"""The nonce cache: replays refused inside the window, memory bounded without ever letting a replay through."""

from __future__ import annotations

import pytest

from gateway.errors import NotStored
from gateway.nonces import NonceCache


def test_a_nonce_is_refused_until_it_expires() -> None:
    cache = NonceCache()
    assert cache.remember("n1", expires_at=160.0, now=100.0)
    assert not cache.remember("n1", expires_at=170.0, now=110.0)
    assert not cache.remember("n1", expires_at=170.0, now=159.9)
    assert cache.remember("n1", expires_at=220.0, now=160.0)


def test_expired_nonces_are_forgotten() -> None:
    cache = NonceCache()
    for index in range(100):
        cache.remember(f"n{index}", expires_at=100.0 + index, now=50.0)
    cache.remember("late", expires_at=500.0, now=150.0)
    assert len(cache) == 50  # n51..n99 outlive 150, plus "late"


def test_a_full_cache_refuses_rather_than_forgets() -> None:
    cache = NonceCache(max_entries=2)
    cache.remember("a", expires_at=200.0, now=100.0)
    cache.remember("b", expires_at=200.0, now=100.0)
    with pytest.raises(NotStored, match="try again"):
        cache.remember("c", expires_at=200.0, now=100.0)
    assert not cache.remember("a", expires_at=200.0, now=199.0)  # still remembered: no replay slipped through
    assert cache.remember("c", expires_at=300.0, now=200.0)  # a and b have expired


def test_a_released_nonce_may_be_used_again_and_is_then_remembered_in_full() -> None:
    cache = NonceCache()
    cache.remember("n", expires_at=160.0, now=100.0)
    cache.release("n")
    assert cache.remember("n", expires_at=180.0, now=110.0)
    # The stale heap entry of the first use (expiring at 160) must not cut the second one short.
    assert not cache.remember("n", expires_at=180.0, now=170.0)
    assert cache.remember("n", expires_at=240.0, now=180.0)


def test_releasing_an_unknown_nonce_is_harmless() -> None:
    cache = NonceCache()
    cache.release("never-seen")
    assert len(cache) == 0
