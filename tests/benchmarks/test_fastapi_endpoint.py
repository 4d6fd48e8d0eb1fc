"""The FastAPI baseline does the signature work the contract asks for, so beating it means something:
every reference vector verifies, and what SPEC.md §2 refuses is refused."""

from __future__ import annotations

import json

import pytest

from benchmarks.fastapi_endpoint import SIGNATURE_WINDOW_S, NonceWindow, signature_error
from tests.schemas.signature_vectors import ALL, EDGE, Vector


@pytest.mark.parametrize("vector", ALL + EDGE, ids=lambda vector: f"{vector.interface}-{vector.nonce[:8]}")
def test_every_reference_signature_verifies(vector: Vector) -> None:
    body = json.loads(vector.body)
    assert (
        signature_error(vector.headers, body, ["another-key", vector.access_key], NonceWindow(), vector.clock()) is None
    )


def test_what_the_contract_refuses_is_refused() -> None:
    vector = ALL[0]
    body = json.loads(vector.body)
    now = vector.clock()

    def refused(headers: dict[str, str], *, keys: list[str] | None = None, at: float = now) -> str | None:
        return signature_error(headers, body, keys or [vector.access_key], NonceWindow(), at)

    assert refused(vector.headers, keys=["another-key"]) == "wrong signature"
    assert refused({**vector.headers, "x-nonce": "other"}) == "wrong signature"
    assert refused({**vector.headers, "x-sign": vector.sign.upper()}) is None  # compared case-insensitively
    assert refused({"x-timestamp": vector.timestamp, "x-nonce": vector.nonce}) == "signature headers missing"
    assert refused(vector.headers, at=now + SIGNATURE_WINDOW_S + 1) == "timestamp outside the window"
    assert refused(vector.headers, at=now - SIGNATURE_WINDOW_S - 1) == "timestamp outside the window"
    tampered = {**body, "tenantId": body["tenantId"] + "x"}
    assert signature_error(vector.headers, tampered, [vector.access_key], NonceWindow(), now) == "wrong signature"


def test_a_nonce_is_refused_the_second_time_within_the_window() -> None:
    vector = ALL[0]
    body, nonces, now = json.loads(vector.body), NonceWindow(), vector.clock()
    assert signature_error(vector.headers, body, [vector.access_key], nonces, now) is None
    assert signature_error(vector.headers, body, [vector.access_key], nonces, now + 1) == "nonce replayed"
