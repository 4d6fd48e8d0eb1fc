"""The instance calls' route (SPEC §9) in process: the reference signatures over HTTP, every refusal with
its code and the problem named, newInstance's and queryInstance's answers, the base path."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import InvalidRequest, NotAnswered, NotStored, SignatureRejected
from gateway.instance_directory import InstanceEntry
from gateway.instance_verification import InstanceSignatureVerifier
from gateway.nonces import NonceCache
from runtime.settings import Settings
from schemas.exceptions import InvalidCall
from schemas.instance_body import read_instance_body
from schemas.instance_calls import AppInfo, derive_instance_id
from schemas.instance_envelope import InstanceEnvelope
from schemas.instance_signature import instance_canonical
from tests.gateway.conftest import RunningGateway, StartGateway
from tests.gateway.fakes import FakeInstanceDirectory
from tests.gateway.platform import post_instance_call, sample_body, signed_instance
from tests.schemas.instance_vectors import ALL, InstanceVector

INSTANCE_KEY = "instance-key-0123456789"
NEW = {"activity": "newInstance", "orderId": "CS1", "orderLineId": "CS1-000001", "businessId": "b-1"}
INSTANCE = derive_instance_id("CS1", "CS1-000001")
APP_INFO = AppInfo(frontEndUrl="https://app.example/i/1", adminUrl="https://app.example/admin", password="pw")


class InstanceGateway:
    def __init__(self, gateway: RunningGateway, directory: FakeInstanceDirectory, key: str = INSTANCE_KEY) -> None:
        self.gateway = gateway
        self.directory = directory
        self.key = key

    @property
    def published(self) -> list[Any]:
        return self.gateway.published

    async def send(self, body: dict[str, Any] | bytes, path: str = "/", **options: Any) -> tuple[int, dict[str, Any]]:
        options.setdefault("timestamp_ms", int(self.gateway.clock.now * 1000))
        raw, query = signed_instance(options.pop("key", self.key), body, **options)
        return await post_instance_call(self.gateway.client, raw, query, path)

    async def post(self, raw: bytes, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        return await post_instance_call(self.gateway.client, raw, query)


@pytest.fixture
async def instances(start_gateway: StartGateway, access_key: str) -> InstanceGateway:
    keys = (INSTANCE_KEY, *sorted({vector.access_key for vector in ALL}))
    settings = Settings(access_keys=(access_key,), instance_access_keys=keys)  # type: ignore[arg-type]
    directory = FakeInstanceDirectory()
    return InstanceGateway(await start_gateway(settings=settings, instance_directory=directory), directory)


# -- the reference cases ----------------------------------------------------------------------------


def expected_code(vector: InstanceVector) -> str:
    if vector.activity == "queryInstance":
        return "000003"  # the fake directory knows none of them, and none is an id this gateway issued
    if vector.activity == "newInstance" and '"testFlag":"1"' not in vector.canonical:
        return "000004"
    return "000000"


@pytest.mark.parametrize("vector", ALL, ids=[vector.case for vector in ALL])
async def test_each_reference_case_verifies_over_http_re_signed_now(
    instances: InstanceGateway, vector: InstanceVector
) -> None:
    status, answer = await instances.send(vector.body.encode(), key=vector.access_key)
    assert (status, answer["resultCode"]) == (200, expected_code(vector)), answer


@pytest.mark.parametrize("vector", ALL, ids=[vector.case for vector in ALL])
def test_each_reference_case_verifies_with_its_own_timestamp_and_only_unchanged(vector: InstanceVector) -> None:

    def verify(query: dict[str, str], body: str = vector.body, key: str = vector.access_key) -> None:
        verifier = InstanceSignatureVerifier([key], 60.0, NonceCache(), clock=vector.clock)
        verifier.verify(query, read_instance_body(body.encode()))

    verify(vector.query)
    body = read_instance_body(vector.body.encode())
    longest = max(body, key=lambda name: len(body[name]))
    changed_value = body[longest][:-1] + ("x" if body[longest][-1:] != "x" else "y")
    changed_body = json.dumps({**body, longest: changed_value}, ensure_ascii=False)
    digit = vector.timestamp[-1]
    changed_stamp = vector.timestamp[:-1] + ("1" if digit != "1" else "2")
    with pytest.raises(SignatureRejected, match="does not match"):
        verify(vector.query, body=changed_body)
    with pytest.raises(SignatureRejected, match="does not match"):
        verify(vector.query, key=vector.access_key[:-1] + ("x" if vector.access_key[-1] != "x" else "y"))
    with pytest.raises(SignatureRejected, match="does not match"):
        verify({**vector.query, "nonce": vector.nonce[:-1] + ("x" if vector.nonce[-1] != "x" else "y")})
    with pytest.raises(SignatureRejected, match="does not match"):
        verify({**vector.query, "timestamp": changed_stamp})
    with pytest.raises(InvalidRequest, match="timestamp: not a number"):
        verify({**vector.query, "timestamp": vector.timestamp[:-1] + "x"})


def one_character_changed_body(vector: InstanceVector) -> bytes:
    """The raw body with one letter or digit replaced, the nearest the middle whose change the canonical
    form shows (a character of a key dropped as a null, or of a duplicate that loses, would not)."""
    middle = len(vector.body) // 2
    for position in sorted(range(len(vector.body)), key=lambda index: abs(index - middle)):
        character = vector.body[position]
        if not character.isascii() or not character.isalnum():
            continue
        changed = vector.body[:position] + ("x" if character != "x" else "y") + vector.body[position + 1 :]
        try:
            if instance_canonical(read_instance_body(changed.encode())) != vector.canonical:
                return changed.encode()
        except InvalidCall:
            continue
    raise AssertionError(f"{vector.case}: no one-character change of the body changes its canonical form")


@pytest.mark.parametrize("vector", ALL, ids=[vector.case for vector in ALL])
async def test_each_reference_case_verifies_over_http_with_its_own_signature_and_only_unchanged(
    instances: InstanceGateway, start_gateway: StartGateway, access_key: str, vector: InstanceVector
) -> None:
    """The platform's own query (signature, timestamp, nonce) sent as it is, the gateway's clock at the
    moment it was signed; the same request with one character changed in its body, key, nonce or
    timestamp is refused 000001 and stores nothing."""
    instances.gateway.clock.now = vector.clock()
    other_key = vector.access_key[:-1] + ("x" if vector.access_key[-1] != "x" else "y")
    settings = Settings(access_keys=(access_key,), instance_access_keys=(other_key,))  # type: ignore[arg-type]
    changed_key = InstanceGateway(await start_gateway(settings=settings), FakeInstanceDirectory(), other_key)
    raw, changed_nonce = vector.body.encode(), vector.nonce[:-1] + ("x" if vector.nonce[-1] != "x" else "y")
    changed_stamp = vector.timestamp[:-1] + ("1" if vector.timestamp[-1] != "1" else "2")

    for gateway, body, query in [
        (instances, one_character_changed_body(vector), vector.query),
        (changed_key, raw, vector.query),
        (instances, raw, {**vector.query, "nonce": changed_nonce}),
        (instances, raw, {**vector.query, "timestamp": changed_stamp}),
    ]:
        status, answer = await gateway.post(body, query)
        assert (status, answer["resultCode"]) == (200, "000001"), (query, answer)
        assert answer["resultMsg"].startswith("signature: does not match")
    assert not instances.published
    assert not changed_key.published

    status, answer = await instances.post(raw, vector.query)
    assert (status, answer["resultCode"]) == (200, expected_code(vector)), answer
    assert len(instances.published) == (vector.activity != "queryInstance")


async def test_a_one_character_change_over_http_is_refused(instances: InstanceGateway) -> None:
    vector = ALL[0]
    raw, query = signed_instance(
        vector.access_key, vector.body.encode(), timestamp_ms=int(instances.gateway.clock.now * 1000)
    )
    tampered = raw.replace(b"CS2211181819B4LVS-000001", b"CS2211181819B4LVS-000002")
    assert (await instances.post(tampered, query))[1]["resultCode"] == "000001"
    assert (await instances.post(raw, {**query, "nonce": query["nonce"] + "0"}))[1]["resultCode"] == "000001"
    assert (await instances.post(raw, query))[1]["resultCode"] == "000004"
    assert instances.published  # only the untouched one went through
    assert len(instances.published) == 1


# -- refusals ---------------------------------------------------------------------------------------


def without(query: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in query.items() if key != name}


@pytest.mark.parametrize(
    ("tamper", "code", "words"),
    [
        (lambda q: without(q, "timestamp"), "000002", "timestamp: query parameter is missing"),
        (lambda q: {**q, "timestamp": "17676e9"}, "000002", "timestamp: not a number"),
        (lambda q: {**q, "timestamp": "now"}, "000002", "timestamp: not a number"),
        (lambda q: without(q, "nonce"), "000002", "nonce: query parameter is missing"),
        (lambda q: {**q, "nonce": "n" * 129}, "000002", "nonce: malformed"),
        (lambda q: {**q, "nonce": "a\tb"}, "000002", "nonce: malformed"),
        (lambda q: without(q, "signature"), "000001", "signature: query parameter is missing"),
        (lambda q: {**q, "signature": "0" * 64}, "000001", "signature: does not match"),
        (lambda q: {**q, "signature": "xyz"}, "000001", "signature: malformed"),
    ],
)
async def test_query_parameters_missing_or_wrong_are_refused_naming_them(
    instances: InstanceGateway, tamper: Any, code: str, words: str
) -> None:
    raw, query = signed_instance(INSTANCE_KEY, NEW, timestamp_ms=int(instances.gateway.clock.now * 1000))
    status, answer = await instances.post(raw, tamper(query))
    assert (status, answer["resultCode"]) == (200, code)
    assert words in answer["resultMsg"]
    assert not instances.published


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"activity": "newInstance", "orderId": {"id": "CS1"}, "orderLineId": "l"}', "orderId: is an object"),
        (b'{"activity": "newInstance", "orderId": ["CS1"], "orderLineId": "l"}', "orderId: is a list"),
        ({"activity": "renewInstance", "instanceId": "i"}, "activity: unknown activity 'renewInstance'"),
        ({**NEW, "orderId": "o" * 65}, "orderId: String should have at most 64 characters"),
        ({"activity": "releaseInstance"}, "instanceId: required field is missing"),
        (
            {"activity": "queryInstance", "instanceId": ",".join(f"id-{n}" for n in range(101))},
            "instanceId: 101 ids: at most 100",
        ),
        (b"{not json", "body: not valid JSON"),
        (b"", "body: empty"),
        (b'["newInstance"]', "body: must be a JSON object"),
        ({**NEW, "orderId": "o" * (64 * 1024)}, "body too large"),
        ({**NEW, "testFlag": "2"}, "testFlag: Input should be '0' or '1'"),
        (
            {"activity": "updateInstanceStatus", "instanceId": INSTANCE, "status": "PAUSE"},
            "status: Input should be 'FREEZE' or 'UNFREEZE'",
        ),
        ({"activity": "a" * 33, "instanceId": INSTANCE}, "activity: longer than 32"),
        ({"activity": "queryInstance", "instanceId": " , "}, "instanceId: no instance id"),
    ],
)
async def test_bad_bodies_are_refused_000002_naming_the_problem(
    instances: InstanceGateway, body: dict[str, Any] | bytes, words: str
) -> None:
    status, answer = await instances.send(body)
    assert (status, answer["resultCode"]) == (200, "000002"), answer
    assert words in answer["resultMsg"]
    assert not instances.published


async def test_the_window_and_the_nonce_rules_are_the_sync_calls_ones(instances: InstanceGateway) -> None:
    now_ms = int(instances.gateway.clock.now * 1000)
    assert (await instances.send(NEW, timestamp_ms=now_ms - 61_000))[1]["resultMsg"].startswith("timestamp: expired")
    future = (await instances.send(NEW, timestamp_ms=now_ms + 61_000))[1]
    assert (future["resultCode"], future["resultMsg"].startswith("timestamp: in the future")) == ("000001", True)
    raw, query = signed_instance(INSTANCE_KEY, NEW, timestamp_ms=now_ms)
    assert (await instances.post(raw, query))[1]["resultCode"] == "000004"
    _, replayed = await instances.post(raw, query)
    assert (replayed["resultCode"], replayed["resultMsg"]) == ("000001", "nonce: already used (replayed request)")
    # One memory of nonces per gateway: the sync calls' nonces and the instance calls' are the same cache.
    assert len(instances.gateway.publisher.published) == 1


async def test_a_sync_key_does_not_sign_instance_calls(instances: InstanceGateway) -> None:
    _, answer = await instances.send(NEW, key=instances.gateway.access_key)
    assert answer["resultCode"] == "000001"


# -- newInstance ------------------------------------------------------------------------------------


async def test_new_instance_is_stored_keyed_by_its_derived_instance_and_answered_000004_until_ready(
    instances: InstanceGateway,
) -> None:
    status, first = await instances.send(NEW)
    assert (status, first["resultCode"], first["instanceId"]) == (200, "000004", INSTANCE)
    [envelope] = instances.published
    assert isinstance(envelope, InstanceEnvelope)
    assert (envelope.instanceId, envelope.eventId, envelope.testFlag) == (INSTANCE, first["eventId"], 0)
    assert envelope.signedAt == int(instances.gateway.clock.now * 1000)

    instances.directory.entries[INSTANCE] = InstanceEntry("ready", APP_INFO)
    instances.gateway.clock.now += 1
    _, resent = await instances.send({**NEW, "businessId": "b-2"})
    assert (resent["resultCode"], resent["instanceId"]) == ("000000", INSTANCE)
    assert resent["eventId"] != first["eventId"]  # signed later: an event of its own, the same instance


async def test_new_instance_answers_000004_when_the_database_cannot_say(instances: InstanceGateway) -> None:
    instances.directory.failure = NotAnswered("down")
    status, answer = await instances.send(NEW)
    assert (status, answer["resultCode"], answer["instanceId"]) == (200, "000004", INSTANCE)
    assert len(instances.published) == 1  # the write path does not depend on the database


async def test_a_debug_new_instance_answers_000000_with_its_instance(instances: InstanceGateway) -> None:
    status, answer = await instances.send({**NEW, "testFlag": "1"})
    assert (status, answer["resultCode"], answer["instanceId"]) == (200, "000000", INSTANCE)
    assert instances.published[0].testFlag == 1
    assert instances.directory.lookups == []


async def test_other_changes_answer_000000_once_stored(instances: InstanceGateway) -> None:
    body = {"activity": "releaseInstance", "instanceId": INSTANCE}
    status, answer = await instances.send(body)
    assert (status, answer["resultCode"]) == (200, "000000")
    assert instances.published[0].eventId == answer["eventId"]


async def test_a_change_not_stored_is_000005_and_may_be_sent_again(instances: InstanceGateway) -> None:
    instances.gateway.publisher.failure = NotStored("broker down")
    raw, query = signed_instance(INSTANCE_KEY, NEW, timestamp_ms=int(instances.gateway.clock.now * 1000))
    status, answer = await instances.post(raw, query)
    assert (status, answer["resultCode"]) == (503, "000005")
    instances.gateway.publisher.failure = None
    assert (await instances.post(raw, query))[1]["resultCode"] == "000004"  # the same request, nonce released


# -- queryInstance ----------------------------------------------------------------------------------


def query(*ids: str) -> dict[str, str]:
    return {"activity": "queryInstance", "instanceId": ", ".join(ids)}


async def test_query_answers_info_for_each_ready_instance(instances: InstanceGateway) -> None:
    provisioning = derive_instance_id("CS2", "CS2-000001")
    instances.directory.entries.update(
        {INSTANCE: InstanceEntry("ready", APP_INFO), provisioning: InstanceEntry("provisioning", None)}
    )
    status, answer = await instances.send(query(INSTANCE, provisioning, "unknown-id"))
    assert (status, answer["resultCode"]) == (200, "000000")
    assert answer["info"] == [
        {
            "instanceId": INSTANCE,
            "appInfo": {
                "frontEndUrl": "https://app.example/i/1",
                "adminUrl": "https://app.example/admin",
                "userName": "",
                "password": "pw",
                "memo": "",
            },
        }
    ]
    assert not instances.published  # a query is answered, never stored


async def test_query_answers_000004_while_none_is_ready_000003_when_none_exists(instances: InstanceGateway) -> None:
    issued_not_yet_stored = derive_instance_id("CS3", "CS3-000001")
    released = derive_instance_id("CS4", "CS4-000001")
    instances.directory.entries[released] = InstanceEntry("released", APP_INFO)
    assert (await instances.send(query(issued_not_yet_stored)))[1]["resultCode"] == "000004"
    assert (await instances.send(query("10e758d0-31ad-4c4b-8f1b-81d03469a10e")))[1]["resultCode"] == "000003"
    assert (await instances.send(query(released)))[1]["resultCode"] == "000003"


async def test_query_answers_000005_and_503_when_the_database_does_not_answer(instances: InstanceGateway) -> None:
    instances.directory.failure = NotAnswered("the instance database did not answer within 2 s; try again")
    status, answer = await instances.send(query(INSTANCE))
    assert (status, answer["resultCode"]) == (503, "000005")
    assert "did not answer" in answer["resultMsg"]


async def test_without_a_database_a_query_is_000005(start_gateway: StartGateway, access_key: str) -> None:
    settings = Settings(access_keys=(access_key,), instance_access_keys=(INSTANCE_KEY,))  # type: ignore[arg-type]
    plain = InstanceGateway(await start_gateway(settings=settings), FakeInstanceDirectory())
    status, answer = await plain.send(query(INSTANCE))
    assert (status, answer["resultCode"]) == (503, "000005")
    assert (await plain.send(NEW))[1]["resultCode"] == "000004"


# -- the base path ----------------------------------------------------------------------------------


async def test_the_base_path_carries_the_instance_calls_and_the_sync_calls_under_it(
    start_gateway: StartGateway, access_key: str
) -> None:
    settings = Settings(
        access_keys=(access_key,),  # type: ignore[arg-type]
        instance_access_keys=(INSTANCE_KEY,),  # type: ignore[arg-type]
        gateway_base_path="/saas/",
    )
    based = InstanceGateway(await start_gateway(settings=settings), FakeInstanceDirectory())
    assert (await based.send(NEW, path="/saas"))[1]["resultCode"] == "000004"
    based.gateway.clock.now += 1
    assert (await based.send(NEW, path="/saas/"))[1]["resultCode"] == "000004"
    raw, headers = based.gateway.sign(sample_body("tenantSync", "t-1"))
    async with based.gateway.client.post("/produceAPI/v2/tenantSync", data=raw, headers=headers) as response:
        assert response.status == 404  # the sync calls moved under the base too
    async with based.gateway.client.post("/saas/produceAPI/v2/tenantSync", data=raw, headers=headers) as response:
        assert (response.status, (await response.json())["resultCode"]) == (200, "000000")
