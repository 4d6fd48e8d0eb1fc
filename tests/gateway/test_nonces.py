"""The nonce cache: replays refused inside the window, memory bounded without ever letting a replay through."""

from __future__ import annotations

import math

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


def test_nonces_are_forgotten_a_whole_second_at_a_time_never_before_they_expire() -> None:
    cache = NonceCache()
    cache.remember("early", expires_at=100.2, now=50.0)
    cache.remember("on-the-second", expires_at=101.0, now=50.0)
    cache.remember("next-second", expires_at=101.001, now=50.0)
    assert not cache.remember("early", expires_at=200.0, now=100.199)
    # Past its expiry, but its second (101) has not come: still refused (kept up to a second longer).
    assert not cache.remember("early", expires_at=200.0, now=100.9)
    assert len(cache) == 3
    # Second 101 has come: both of its nonces go at once; the next second's stays.
    assert cache.remember("other", expires_at=200.0, now=101.0)
    assert len(cache) == 2
    assert cache.remember("early", expires_at=200.0, now=101.0)
    assert cache.remember("on-the-second", expires_at=200.0, now=101.0)
    assert not cache.remember("next-second", expires_at=200.0, now=101.9)
    assert cache.remember("next-second", expires_at=200.0, now=102.0)


def test_no_nonce_is_forgotten_before_its_expiry() -> None:
    cache = NonceCache()
    expiries = {f"n{index}": 1000.0 + index * 0.37 for index in range(300)}
    for nonce, expires_at in expiries.items():
        cache.remember(nonce, expires_at=expires_at, now=999.0)
    for nonce, expires_at in expiries.items():  # the clock moves on to just before each expiry in turn
        assert not cache.remember(nonce, expires_at=2000.0, now=math.nextafter(expires_at, 0.0)), nonce


def test_an_earlier_bucket_of_a_released_nonce_does_not_forget_its_later_use_and_vice_versa() -> None:
    cache = NonceCache()
    cache.remember("later", expires_at=150.0, now=100.0)
    cache.release("later")
    cache.remember("later", expires_at=190.0, now=100.0)
    cache.remember("earlier", expires_at=190.0, now=100.0)
    cache.release("earlier")
    cache.remember("earlier", expires_at=150.0, now=100.0)
    cache.remember("tick", expires_at=300.0, now=160.0)  # second 150 has come
    assert not cache.remember("later", expires_at=300.0, now=160.0)
    assert cache.remember("earlier", expires_at=300.0, now=160.0)
    cache.remember("tick2", expires_at=300.0, now=195.0)  # second 190 has come: "earlier" now lives to 300
    assert not cache.remember("earlier", expires_at=300.0, now=195.0)
    assert cache.remember("later", expires_at=300.0, now=195.0)


def test_a_full_cache_counts_only_live_nonces() -> None:
    cache = NonceCache(max_entries=3)
    cache.remember("a", expires_at=100.5, now=90.0)
    cache.remember("b", expires_at=120.0, now=90.0)
    cache.remember("c", expires_at=120.0, now=90.0)
    with pytest.raises(NotStored):
        cache.remember("d", expires_at=130.0, now=100.9)  # "a" is kept to second 101
    assert cache.remember("d", expires_at=130.0, now=101.0)
    assert len(cache) == 3
