"""The verifier's replay protection as configured: its nonce capacity."""

from __future__ import annotations

import pytest

from gateway.errors import NotStored
from gateway.nonces import DEFAULT_MAX_NONCES
from gateway.verification import SignatureVerifier
from syncpipe.settings import Settings
from tests.gateway.conftest import FixedClock
from tests.gateway.platform import sample_body, signed

KEY = "k1"
NOW = 1_767_000_000.0


def verifier(clock: FixedClock, **settings: object) -> SignatureVerifier:
    return SignatureVerifier.from_settings(Settings(access_keys=(KEY,), **settings), clock=clock)  # type: ignore[arg-type]


def test_the_nonce_capacity_comes_from_settings() -> None:
    clock = FixedClock(NOW)
    limited = verifier(clock, gateway_nonce_capacity=2)
    body = sample_body("tenantSync", "t-verification")
    for nonce in ("n1", "n2"):
        limited.verify(signed(KEY, body, nonce=nonce, timestamp_ms=int(NOW * 1000))[1], body)
    with pytest.raises(NotStored, match="try again"):
        limited.verify(signed(KEY, body, nonce="n3", timestamp_ms=int(NOW * 1000))[1], body)


def test_the_nonce_capacity_is_read_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().gateway_nonce_capacity == DEFAULT_MAX_NONCES == 1_000_000
    monkeypatch.setenv("SYNCPIPE_GATEWAY_NONCE_CAPACITY", "250000")
    assert Settings().gateway_nonce_capacity == 250_000
    monkeypatch.setenv("SYNCPIPE_GATEWAY_NONCE_CAPACITY", "0")
    with pytest.raises(ValueError, match="gateway_nonce_capacity"):
        Settings()
