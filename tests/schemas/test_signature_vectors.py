"""The platform's own reference signatures (../shared/vectors/signatures.jsonl) all verify, and only they do."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import build_app
from gateway.client_secret import ClientSecretChecker
from gateway.errors import SignatureRejected
from gateway.verification import SignatureVerifier
from runtime.settings import Settings
from schemas.canonical import canonical_json
from tests.gateway.fakes import RecordingPublisher
from tests.gateway.platform import post_call

VECTORS = Path(__file__).parents[2].parent / "shared" / "vectors" / "signatures.jsonl"


class Vector(NamedTuple):
    interface: str
    access_key: str
    nonce: str
    timestamp: str
    body: str
    canonical: str
    sign: str

    @property
    def headers(self) -> dict[str, str]:
        return {"x-sign": self.sign, "x-timestamp": self.timestamp, "x-nonce": self.nonce}

    def clock(self) -> float:
        """The verifying clock stands at the moment the platform signed."""
        return int(self.timestamp) / 1000


def load_vectors() -> list[Vector]:
    # Not splitlines(): bodies may hold U+2028 and other characters it also treats as line breaks.
    lines = [line for line in VECTORS.read_text(encoding="utf-8").split("\n") if line.strip()]
    fields = ("interface", "accessKey", "nonce", "timestamp", "body", "canonical", "sign")
    return [Vector(*(case[name] for name in fields)) for case in map(json.loads, lines)]


ALL = load_vectors()


def test_the_vectors_cover_every_interface() -> None:
    assert len(ALL) >= 50
    assert {vector.interface for vector in ALL} == {
        "tenantSync",
        "applicationSync",
        "authSync",
        "singleOrgSync",
        "allOrgSync",
    }


@pytest.fixture(params=ALL, ids=[f"{index}-{vector.interface}" for index, vector in enumerate(ALL)])
def vector(request: pytest.FixtureRequest) -> Vector:
    value: Vector = request.param
    return value


def test_the_canonical_form_matches(vector: Vector) -> None:
    assert canonical_json(json.loads(vector.body)) == vector.canonical


def test_the_signature_verifies(vector: Vector) -> None:
    verifier = SignatureVerifier([vector.access_key], window_s=60, clock=vector.clock)
    assert verifier.verify(vector.headers, json.loads(vector.body)).nonce == vector.nonce


def test_the_signature_verifies_among_many_keys(vector: Vector) -> None:
    keys = [other.access_key for other in ALL]
    verifier = SignatureVerifier(keys, window_s=60, clock=vector.clock)
    assert verifier.verify(vector.headers, json.loads(vector.body)).key_index == keys.index(vector.access_key)


def one_character_changed(text: str, pattern: str) -> str:
    """`text` with the last character of the first match of `pattern`'s group changed."""
    match = re.search(pattern, text)
    assert match is not None
    end = match.end(1) - 1
    replacement = "0" if text[end] != "0" else "1"
    return text[:end] + replacement + text[end + 1 :]


def test_a_one_character_change_to_the_body_fails(vector: Vector) -> None:
    tampered = one_character_changed(vector.body, r'"tenantId"\s*:\s*"([^"]+)"')
    verifier = SignatureVerifier([vector.access_key], window_s=60, clock=vector.clock)
    with pytest.raises(SignatureRejected, match="does not match"):
        verifier.verify(vector.headers, json.loads(tampered))


def test_a_one_character_change_to_the_key_fails(vector: Vector) -> None:
    wrong_key = one_character_changed(vector.access_key, r"(.)$")
    verifier = SignatureVerifier([wrong_key], window_s=60, clock=vector.clock)
    with pytest.raises(SignatureRejected, match="does not match"):
        verifier.verify(vector.headers, json.loads(vector.body))


@pytest.fixture
async def http_gateway(vector: Vector) -> AsyncIterator[tuple[TestClient[Any, Any], RecordingPublisher]]:
    settings = Settings(access_keys=(vector.access_key,))  # type: ignore[arg-type]
    publisher = RecordingPublisher()
    verifier = SignatureVerifier.from_settings(settings, clock=vector.clock)
    client: TestClient[Any, Any] = TestClient(
        TestServer(build_app(settings, publisher, verifier, ClientSecretChecker(None)))
    )
    await client.start_server()
    yield client, publisher
    await client.close()


async def test_the_signed_request_is_accepted_over_http(
    vector: Vector, http_gateway: tuple[TestClient[Any, Any], RecordingPublisher]
) -> None:
    client, publisher = http_gateway
    status, answer = await post_call(client, vector.interface, vector.body.encode(), vector.headers)
    assert (status, answer["resultCode"]) == (200, "000000"), answer
    assert [envelope.eventId for envelope in publisher.published] == [answer["eventId"]]


async def test_a_tampered_request_is_refused_over_http(
    vector: Vector, http_gateway: tuple[TestClient[Any, Any], RecordingPublisher]
) -> None:
    client, publisher = http_gateway
    tampered = one_character_changed(vector.body, r'"tenantId"\s*:\s*"([^"]+)"')
    status, answer = await post_call(client, vector.interface, tampered.encode(), vector.headers)
    assert (status, answer["resultCode"]) == (200, "000001"), answer
    assert publisher.published == []
