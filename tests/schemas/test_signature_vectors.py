"""The platform's own reference signatures (../shared/vectors: signatures.jsonl and the edge cases of
signatures_edge.jsonl) all verify, through the verifier and over HTTP, and only they do."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import build_app
from gateway.client_secret import ClientSecretChecker
from gateway.errors import SignatureRejected
from gateway.verification import SignatureVerifier
from runtime.settings import Settings
from schemas import strict_json
from schemas.calls import parse_call
from schemas.canonical import canonical_json, sign
from schemas.exceptions import InvalidCall
from tests.gateway.fakes import RecordingPublisher
from tests.gateway.platform import post_call
from tests.schemas.signature_vectors import ALL, EDGE, Vector


def test_the_vectors_cover_every_interface() -> None:
    assert len(ALL) >= 50
    assert {vector.interface for vector in ALL} == {
        "tenantSync",
        "applicationSync",
        "authSync",
        "singleOrgSync",
        "allOrgSync",
    }
    assert len(EDGE) >= 10


IDS = [f"{index}-{vector.interface}" for index, vector in enumerate(ALL)]
IDS += [f"edge-{index}-{vector.note.replace(' ', '-')}" for index, vector in enumerate(EDGE)]


@pytest.fixture(params=[*ALL, *EDGE], ids=IDS)
def vector(request: pytest.FixtureRequest) -> Vector:
    value: Vector = request.param
    return value


def test_the_canonical_form_matches(vector: Vector) -> None:
    assert canonical_json(json.loads(vector.body)) == vector.canonical


def test_the_signature_verifies(vector: Vector) -> None:
    verifier = SignatureVerifier([vector.access_key], window_s=60, clock=vector.clock)
    assert verifier.verify(vector.headers, json.loads(vector.body)).nonce == vector.nonce


def test_the_signature_verifies_among_many_keys(vector: Vector) -> None:
    keys = [other.access_key for other in (*ALL, *EDGE)]
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


def one_character_changes(text: str) -> list[str]:
    """`text` with one letter or digit changed to another, at each position in turn."""
    changed = {"z": "a", "Z": "A", "9": "0"}
    return [
        text[:index] + changed.get(character, chr(ord(character) + 1)) + text[index + 1 :]
        for index, character in enumerate(text)
        if character.isascii() and character.isalnum()
    ]


def signed_content(body: dict[str, Any]) -> str:
    """What the signature covers, told apart by type (1 is not 1.0): every member but a top-level null."""
    return repr(sorted((key, value) for key, value in body.items() if value is not None))


def test_any_one_character_change_to_the_body_fails(vector: Vector) -> None:
    """Every letter and digit of the body in turn (keys, values, numbers, escapes): each change that
    leaves valid JSON and touches what is signed (not the name of a top-level null) is refused."""
    verifier = SignatureVerifier([vector.access_key], window_s=60, clock=vector.clock)
    original = signed_content(strict_json.loads(vector.body))
    checked = 0
    for tampered in one_character_changes(vector.body):
        try:
            body = strict_json.loads(tampered)
        except strict_json.NotJson:
            continue
        if signed_content(body) == original:
            continue
        checked += 1
        with pytest.raises(SignatureRejected, match="does not match"):
            verifier.verify(vector.headers, body)
    assert checked > 100


def test_a_one_character_change_to_the_key_fails(vector: Vector) -> None:
    wrong_key = one_character_changed(vector.access_key, r"(.)$")
    verifier = SignatureVerifier([wrong_key], window_s=60, clock=vector.clock)
    with pytest.raises(SignatureRejected, match="does not match"):
        verifier.verify(vector.headers, json.loads(vector.body))


@asynccontextmanager
async def running_gateway(
    access_key: str, clock: Callable[[], float]
) -> AsyncIterator[tuple[TestClient[Any, Any], RecordingPublisher]]:
    settings = Settings(access_keys=(access_key,))  # type: ignore[arg-type]
    publisher = RecordingPublisher()
    verifier = SignatureVerifier.from_settings(settings, clock=clock)
    client: TestClient[Any, Any] = TestClient(
        TestServer(build_app(settings, publisher, verifier, ClientSecretChecker(None)))
    )
    await client.start_server()
    try:
        yield client, publisher
    finally:
        await client.close()


@pytest.fixture
async def http_gateway(vector: Vector) -> AsyncIterator[tuple[TestClient[Any, Any], RecordingPublisher]]:
    """A gateway whose clock stands at the moment the platform signed the vector."""
    async with running_gateway(vector.access_key, vector.clock) as gateway:
        yield gateway


def answer_after_the_signature(vector: Vector) -> tuple[int, str, str | None]:
    """What the gateway answers once the signature is accepted: 000000, or 000002 naming the field that
    the contract refuses (some edge vectors carry a timeStamp whose seconds are 60-99; the signature is
    checked first, so that answer still says it verified: a bad one is 000001)."""
    try:
        parse_call(vector.interface, strict_json.loads(vector.body))
    except InvalidCall as refused:
        return 200, "000002", str(refused)
    return 200, "000000", None


def assert_answered_after_the_signature(
    vector: Vector, answer: tuple[int, dict[str, Any]], publisher: RecordingPublisher
) -> None:
    status, body = answer
    expected_status, expected_code, expected_message = answer_after_the_signature(vector)
    assert (status, body["resultCode"]) == (expected_status, expected_code), body
    if expected_message is None:
        assert [envelope.eventId for envelope in publisher.published] == [body["eventId"]]
    else:
        assert body["resultMsg"] == expected_message
        assert publisher.published == []


TIMESTAMP_SECOND = re.compile(r'"timeStamp"\s*:\s*"[0-9]{12}([0-9]{2})')


def test_only_a_vector_whose_timestamp_has_no_such_second_is_refused_after_its_signature() -> None:
    """The answers the HTTP tests expect, told from the bodies' text: every vector is accepted but the
    five edge ones whose timeStamp (yyyyMMddHHmmssSSS, SPEC §1) has seconds 60-99. Their signature
    verifies (a one-character change is 000001 instead); the time is not one (SPEC §3: 000002)."""
    seconds = [int(TIMESTAMP_SECOND.findall(vector.body)[0]) for vector in (*ALL, *EDGE)]
    refused = [answer_after_the_signature(vector)[2] for vector in (*ALL, *EDGE)]
    assert [message is not None for message in refused] == [second >= 60 for second in seconds]
    assert sum(second >= 60 for second in seconds[len(ALL) :]) == 5
    assert all(message.startswith("timeStamp: second must be in 0..59") for message in refused if message)


async def test_the_signed_request_is_accepted_over_http(
    vector: Vector, http_gateway: tuple[TestClient[Any, Any], RecordingPublisher]
) -> None:
    client, publisher = http_gateway
    answer = await post_call(client, vector.interface, vector.body.encode(), vector.headers)
    assert_answered_after_the_signature(vector, answer, publisher)


async def test_the_vectors_canonical_form_signed_now_is_accepted_over_http(vector: Vector) -> None:
    """Re-signed as the platform signs, over the vector's own canonical form, with a fresh nonce and
    the current time, and sent to a gateway on the real clock."""
    nonce, timestamp = secrets.token_hex(16), str(time.time_ns() // 1_000_000)
    headers = {"x-sign": sign(vector.access_key, nonce, timestamp, vector.canonical), "x-timestamp": timestamp}
    async with running_gateway(vector.access_key, time.time) as (client, publisher):
        answer = await post_call(client, vector.interface, vector.body.encode(), {**headers, "x-nonce": nonce})
    assert_answered_after_the_signature(vector, answer, publisher)


async def test_a_tampered_request_is_refused_over_http(
    vector: Vector, http_gateway: tuple[TestClient[Any, Any], RecordingPublisher]
) -> None:
    client, publisher = http_gateway
    tampered = one_character_changed(vector.body, r'"tenantId"\s*:\s*"([^"]+)"')
    status, answer = await post_call(client, vector.interface, tampered.encode(), vector.headers)
    assert (status, answer["resultCode"]) == (200, "000001"), answer
    assert publisher.published == []
