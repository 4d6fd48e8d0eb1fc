"""The verifier's replay protection as configured: its nonce capacity and where the window ends."""

from __future__ import annotations

import pytest

from gateway.errors import InvalidRequest, NotStored, SignatureRejected
from gateway.nonces import DEFAULT_MAX_NONCES
from gateway.verification import SignatureVerifier
from runtime.settings import Settings
from tests.gateway.conftest import FixedClock
from tests.gateway.platform import sample_body, signed

KEY = "k1"
# A whole second, so that signed_at + window is exact in floating point.
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


def test_a_replay_is_refused_up_to_the_last_instant_its_timestamp_is_accepted() -> None:
    clock = FixedClock(NOW)
    checker = verifier(clock, signature_window_s=60)
    body = sample_body("tenantSync", "t-verification")
    _, headers = signed(KEY, body, nonce="once", timestamp_ms=int(NOW * 1000))
    checker.verify(headers, body)
    clock.now = NOW + 60  # exactly the window: the timestamp is still accepted, so the nonce must be known
    with pytest.raises(SignatureRejected, match="x-nonce: already used"):
        checker.verify(headers, body)
    clock.now = NOW + 60.001
    with pytest.raises(SignatureRejected, match="x-timestamp: expired"):
        checker.verify(headers, body)


def test_a_body_too_deep_to_sign_is_refused_as_a_body() -> None:
    """json.loads runs a few frames higher up the stack than the canonical form's json.dumps, so a
    body nested just below its limit decodes and then cannot be put in canonical form."""
    body: dict[str, object] = {"tenantId": "t"}
    inner: list[object] = []
    body["deep"] = inner
    for _ in range(5000):
        inner.append([])
        inner = inner[0]  # type: ignore[assignment]
    verifier = SignatureVerifier(["k" * 32], window_s=60, clock=FixedClock(NOW))
    headers = {"x-sign": "0" * 64, "x-timestamp": str(int(NOW * 1000)), "x-nonce": "n-1"}
    with pytest.raises(InvalidRequest, match="nested too deeply"):
        verifier.verify(headers, body)
