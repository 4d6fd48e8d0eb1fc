"""Every malformed, oversized, unsigned or replayed call gets its SPEC §3 answer, and nothing is published."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from gateway.client_secret import ClientSecretChecker
from gateway.errors import SignatureRejected
from gateway.verification import SignatureVerifier
from runtime.settings import MIB, Settings
from tests.gateway.conftest import FixedClock, RunningGateway, StartGateway
from tests.gateway.platform import DROP, sample_body, signed

TENANT = "t-bad-input"


def assert_answer(status: int, answer: dict[str, Any], code: str, *words: str) -> None:
    assert (status, answer["resultCode"]) == (200, code), answer
    assert set(answer) == {"resultCode", "resultMsg"}
    for word in words:
        assert word in answer["resultMsg"]


def assert_accepted(status: int, answer: dict[str, Any]) -> None:
    assert (status, answer["resultCode"]) == (200, "000000"), answer
    assert len(answer["eventId"]) == 32


# --- the body as a whole ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        pytest.param(b"", ["body: empty"], id="empty"),
        pytest.param(b"{not json", ["body: not valid JSON"], id="not-json"),
        pytest.param(b'{"tenantId": "t"', ["body: not valid JSON"], id="truncated"),
        pytest.param(b"[1, 2]", ["body: must be a JSON object"], id="array"),
        pytest.param(b'"tenantSync"', ["body: must be a JSON object"], id="string"),
        pytest.param(b"null", ["body: must be a JSON object"], id="null"),
        pytest.param(b'{"tenantId": "\xff\xfe"}', ["body: not valid UTF-8"], id="not-utf8"),
        pytest.param(b'{"testFlag": NaN}', ["body: not valid JSON", "NaN"], id="nan"),
        pytest.param(b'{"testFlag": 1e400}', ["body: not valid JSON", "1e400", "out of range"], id="float-overflow"),
        pytest.param(b'{"x": [-1E999]}', ["body: not valid JSON", "-1E999", "out of range"], id="nested-overflow"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, ["body: not valid JSON", "nested"], id="deep"),
        pytest.param(b'{"n": 1' + b"0" * 5000 + b"}", ["body: not valid JSON"], id="huge-integer"),
        pytest.param(b'{"tenantId": "\\ud800x"}', ["body: not valid JSON", "surrogate"], id="lone-surrogate"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_refused_before_its_signature(
    gateway: RunningGateway, raw: bytes, words: list[str]
) -> None:
    _, headers = gateway.sign({})  # well-formed headers that do not match: the body check comes first
    assert_answer(*await gateway.post("tenantSync", raw, headers), "000002", *words)
    assert gateway.published == []


async def test_an_unknown_interface_is_named(gateway: RunningGateway) -> None:
    raw, headers = gateway.sign(sample_body("tenantSync", TENANT))
    assert_answer(*await gateway.post("tenantsync", raw, headers), "000002", "interface", "tenantsync")
    assert gateway.published == []


# --- fields -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("interface", "overrides", "message"),
    [
        ("tenantSync", {"tenantId": DROP}, "tenantId: required field is missing"),
        ("tenantSync", {"tenantId": ""}, "tenantId: String should have at least 1 character"),
        ("tenantSync", {"tenantId": "t" * 65}, "tenantId: String should have at most 64 characters"),
        ("tenantSync", {"tenantId": 42}, "tenantId: Input should be a valid string"),
        ("tenantSync", {"instanceId": "i" * 65}, "instanceId: String should have at most 64"),
        ("tenantSync", {"name": "n" * 256}, "name: String should have at most 255"),
        ("tenantSync", {"domainName": "d" * 256}, "domainName: String should have at most 255"),
        ("tenantSync", {"flag": DROP}, "flag: required field is missing"),
        ("tenantSync", {"flag": "1"}, "flag:"),
        ("tenantSync", {"flag": 3}, "flag:"),
        ("tenantSync", {"testFlag": "0"}, "testFlag:"),
        ("tenantSync", {"timeStamp": DROP}, "timeStamp: required field is missing"),
        ("tenantSync", {"timeStamp": "2026-01-05 09:30"}, "timeStamp: expected 17 digits"),
        ("applicationSync", {"appId": DROP}, "appId: required field is missing"),
        ("applicationSync", {"clientSecret": "s" * 4097}, "clientSecret: String should have at most 4096"),
        ("authSync", {"userList": "ada"}, "userList: Input should be a valid list"),
        ("authSync", {"userList": [{"name": "Ada"}]}, "userList.0.userName: required field is missing"),
        ("authSync", {"userList": [{"userName": "a", "enable": "yes"}]}, "userList.0.enable"),
        ("authSync", {"userList": [{"userName": f"u{i}"} for i in range(501)]}, "userList: List should have at most"),
        ("authSync", {"flag": 4}, "flag:"),
        ("singleOrgSync", {"orgCode": DROP}, "orgCode: required field is missing"),
        ("singleOrgSync", {"orgName": "o" * 129}, "orgName: String should have at most 128"),
        ("allOrgSync", {"orgInfoList": DROP}, "orgInfoList: required field is missing"),
        ("allOrgSync", {"orgInfoList": [{"orgName": "x"}]}, "orgInfoList.0.orgCode: required field is missing"),
        ("allOrgSync", {"orgInfoList": "[{"}, "orgInfoList: string is not a JSON list"),
    ],
)
async def test_a_bad_field_is_named(
    gateway: RunningGateway,
    interface: str,
    overrides: dict[str, Any],
    message: str,
) -> None:
    raw, headers = gateway.sign(sample_body(interface, TENANT, **overrides))
    assert_answer(*await gateway.post(interface, raw, headers), "000002", message)
    assert gateway.published == []


async def test_a_bad_field_without_a_valid_signature_is_refused_for_the_signature(gateway: RunningGateway) -> None:
    raw, headers = gateway.sign(sample_body("tenantSync", TENANT, tenantId=DROP), key="not-the-key")
    assert_answer(*await gateway.post("tenantSync", raw, headers), "000001", "x-sign")


# --- size -------------------------------------------------------------------------------------------------


def padded_body(interface: str, size: int) -> dict[str, Any]:
    """A valid body of about `size` bytes (an unknown field carries the padding)."""
    return sample_body(interface, TENANT, padding="p" * size)


async def test_a_10_mb_body_to_a_1_mib_interface_is_refused(gateway: RunningGateway) -> None:
    raw, headers = gateway.sign(padded_body("tenantSync", 10 * MIB))
    assert_answer(*await gateway.post("tenantSync", raw, headers), "000002", "body too large")
    assert gateway.published == []


async def test_a_declared_oversized_body_is_refused_before_it_is_sent(gateway: RunningGateway) -> None:
    _, headers = gateway.sign({})
    reader, writer = await asyncio.open_connection(gateway.client.host, gateway.client.port)
    head = ["POST /produceAPI/v2/tenantSync HTTP/1.1", f"Host: {gateway.client.host}", f"Content-Length: {10 * MIB}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())  # and not one byte of the body
    await writer.drain()
    try:
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
        rest = await asyncio.wait_for(reader.readuntil(b"}"), timeout=5)
    finally:
        writer.close()
    assert status_line.startswith(b"HTTP/1.1 200")
    assert b'"resultCode": "000002"' in rest
    assert b"body too large" in rest


async def test_a_chunked_10_mb_body_is_refused(gateway: RunningGateway) -> None:
    raw, headers = gateway.sign(padded_body("tenantSync", 10 * MIB))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start : start + 64 * 1024]

    # No length known up front: aiohttp sends the body with Transfer-Encoding: chunked.
    async with gateway.client.post("/produceAPI/v2/tenantSync", data=chunks(), headers=headers) as response:
        assert_answer(response.status, await response.json(), "000002", "body too large")
    assert gateway.published == []


async def test_a_content_length_longer_than_the_body_is_refused_in_bounded_time(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(body_timeout_s=0.5)
    raw, headers = gateway.sign(sample_body("tenantSync", TENANT))
    reader, writer = await asyncio.open_connection(gateway.client.host, gateway.client.port)
    head = [
        "POST /produceAPI/v2/tenantSync HTTP/1.1",
        f"Host: {gateway.client.host}",
        f"Content-Length: {len(raw) + 10}",
    ]
    head += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + raw)  # ten bytes short, then silence
    started = time.monotonic()
    try:
        await asyncio.wait_for(reader.readline(), timeout=5)
        rest = await asyncio.wait_for(reader.readuntil(b"}"), timeout=5)
    finally:
        writer.close()
    assert time.monotonic() - started < 3
    assert b"000002" in rest
    assert b"not received completely" in rest
    assert gateway.published == []


async def test_each_interface_has_its_own_size_limit(gateway: RunningGateway) -> None:
    big = 2 * MIB
    raw, headers = gateway.sign(padded_body("allOrgSync", big))
    assert_accepted(*await gateway.post("allOrgSync", raw, headers))
    raw, headers = gateway.sign(padded_body("singleOrgSync", big))
    assert_answer(*await gateway.post("singleOrgSync", raw, headers), "000002", "body too large")
    assert [envelope.interface for envelope in gateway.published] == ["allOrgSync"]


# --- signature headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("x-sign", None, "x-sign: header is missing"),
        ("x-timestamp", None, "x-timestamp: header is missing"),
        ("x-nonce", None, "x-nonce: header is missing"),
        ("x-sign", "ab" * 31 + "a", "x-sign: malformed"),
        ("x-sign", "zz" * 32, "x-sign: malformed"),
        ("x-sign", "", "x-sign: malformed"),
        ("x-timestamp", "", "x-timestamp: malformed"),
        ("x-timestamp", "17000000000ab", "x-timestamp: malformed"),
        ("x-timestamp", "-1700000000000", "x-timestamp: malformed"),
        ("x-timestamp", "1700000000000.5", "x-timestamp: malformed"),
        ("x-timestamp", "01700000000000", "x-timestamp: malformed"),
        ("x-timestamp", "+1700000000000", "x-timestamp: malformed"),
        ("x-nonce", "", "x-nonce: malformed"),
        ("x-nonce", "n" * 129, "x-nonce: malformed"),
        ("x-nonce", "a\tb", "x-nonce: malformed"),
    ],
)
async def test_missing_or_malformed_signature_headers_are_named(
    gateway: RunningGateway, header: str, value: str | None, message: str
) -> None:
    raw, headers = gateway.sign(sample_body("tenantSync", TENANT))
    if value is None:
        del headers[header]
    else:
        headers[header] = value
    assert_answer(*await gateway.post("tenantSync", raw, headers), "000001", message)
    assert gateway.published == []


@pytest.mark.parametrize(
    ("offset_s", "accepted", "message"),
    [(-61, False, "x-timestamp: expired"), (61, False, "x-timestamp: in the future"), (-59, True, ""), (59, True, "")],
)
async def test_the_timestamp_must_lie_inside_the_window(
    gateway: RunningGateway,
    offset_s: int,
    accepted: bool,
    message: str,
) -> None:
    raw, headers = gateway.sign(
        sample_body("tenantSync", TENANT), timestamp_ms=int((gateway.clock.now + offset_s) * 1000)
    )
    status, answer = await gateway.post("tenantSync", raw, headers)
    if accepted:
        assert_accepted(status, answer)
    else:
        assert_answer(status, answer, "000001", message)
    assert len(gateway.published) == int(accepted)


async def test_a_replayed_request_is_refused(gateway: RunningGateway) -> None:
    raw, headers = gateway.sign(sample_body("tenantSync", TENANT))
    assert_accepted(*await gateway.post("tenantSync", raw, headers))
    assert_answer(*await gateway.post("tenantSync", raw, headers), "000001", "x-nonce: already used")
    assert len(gateway.published) == 1


async def test_a_replay_with_a_zero_moved_from_the_nonce_to_the_timestamp_is_refused(gateway: RunningGateway) -> None:
    """The signed message runs nonce and timestamp together: "…abc0" + "1767…" and "…abc" + "01767…" sign
    alike, and the second nonce is a new one. Only a timestamp without leading zeros closes that."""
    raw, headers = gateway.sign(sample_body("tenantSync", TENANT), nonce="captured-nonce-0")
    assert_accepted(*await gateway.post("tenantSync", raw, headers))
    moved = {**headers, "x-nonce": "captured-nonce-", "x-timestamp": "0" + headers["x-timestamp"]}
    assert_answer(*await gateway.post("tenantSync", raw, moved), "000001", "x-timestamp: malformed")
    assert len(gateway.published) == 1


async def test_a_replay_after_the_window_is_refused_as_expired(
    gateway: RunningGateway,
) -> None:
    raw, headers = gateway.sign(sample_body("tenantSync", TENANT))
    assert_accepted(*await gateway.post("tenantSync", raw, headers))
    gateway.clock.now += 61
    assert_answer(*await gateway.post("tenantSync", raw, headers), "000001", "x-timestamp: expired")
    assert len(gateway.published) == 1


async def test_a_nonce_is_not_burnt_by_a_request_with_a_wrong_signature(gateway: RunningGateway) -> None:
    body = sample_body("tenantSync", TENANT)
    raw, forged = gateway.sign(body, nonce="the-platforms-next-nonce", key="attacker")
    assert_answer(*await gateway.post("tenantSync", raw, forged), "000001", "does not match")
    raw, genuine = gateway.sign(body, nonce="the-platforms-next-nonce")
    assert_accepted(*await gateway.post("tenantSync", raw, genuine))


async def test_a_wrong_key_is_refused(gateway: RunningGateway) -> None:
    raw, headers = gateway.sign(sample_body("tenantSync", TENANT), key="some-other-access-key")
    assert_answer(*await gateway.post("tenantSync", raw, headers), "000001", "x-sign: signature does not match")
    assert gateway.published == []


async def test_a_tampered_body_is_refused(gateway: RunningGateway) -> None:
    raw, headers = gateway.sign(sample_body("tenantSync", TENANT, name="ACME"))
    tampered = raw.replace(b'"ACME"', b'"ACMF"')
    assert tampered != raw
    assert_answer(*await gateway.post("tenantSync", tampered, headers), "000001", "does not match")
    assert gateway.published == []


async def test_whitespace_and_key_order_do_not_matter_to_the_signature(gateway: RunningGateway) -> None:
    body = sample_body("tenantSync", TENANT)
    _, headers = gateway.sign(body)
    reordered = json.dumps(dict(reversed(body.items())), indent=2).encode()
    assert_accepted(*await gateway.post("tenantSync", reordered, headers))


async def test_an_upper_case_signature_and_every_configured_key_are_accepted(
    start_gateway: StartGateway,
) -> None:
    settings = Settings(access_keys=("old-key", "new-key"))  # type: ignore[arg-type]
    gateway = await start_gateway(settings=settings)
    for key in ("old-key", "new-key"):
        raw, headers = gateway.sign(sample_body("tenantSync", TENANT), key=key)
        headers["x-sign"] = headers["x-sign"].upper()
        assert_accepted(*await gateway.post("tenantSync", raw, headers))
    assert len(gateway.published) == 2


# --- clientSecret -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def merchant_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def encrypt_secret(key: rsa.RSAPrivateKey, plaintext: bytes, algorithm: hashes.HashAlgorithm) -> str:
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm), algorithm=algorithm, label=None)
    return base64.b64encode(key.public_key().encrypt(plaintext, oaep)).decode()


@pytest.fixture
async def keyed_gateway(
    start_gateway: StartGateway, merchant_key: rsa.RSAPrivateKey, gateway_settings: Settings, tmp_path: Path
) -> RunningGateway:
    pem = tmp_path / "merchant.pem"
    pem.write_bytes(
        merchant_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    settings = gateway_settings.model_copy(update={"app_private_key": pem})
    return await start_gateway(settings=settings, secret_checker=ClientSecretChecker.from_settings(settings))


@pytest.mark.parametrize("algorithm", [hashes.SHA256(), hashes.SHA1()], ids=["oaep-sha256", "oaep-sha1"])
@pytest.mark.parametrize("flag", [1, 2])
async def test_a_decryptable_client_secret_is_accepted(
    keyed_gateway: RunningGateway,
    merchant_key: rsa.RSAPrivateKey,
    algorithm: hashes.HashAlgorithm,
    flag: int,
) -> None:
    secret = encrypt_secret(merchant_key, b"s3cr3t-value", algorithm)
    raw, headers = keyed_gateway.sign(sample_body("applicationSync", TENANT, clientSecret=secret, flag=flag))
    assert_accepted(*await keyed_gateway.post("applicationSync", raw, headers))
    assert keyed_gateway.published[0].call["clientSecret"] == secret  # stored as received, still encrypted


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("for-another-key", "clientSecret: cannot be decrypted"),
        ("%%% not base64 %%%", "clientSecret: not valid base64"),
        (base64.b64encode(b"x" * 256).decode(), "clientSecret: cannot be decrypted"),
        ("", "clientSecret: missing"),
    ],
)
async def test_an_undecryptable_client_secret_is_refused(
    keyed_gateway: RunningGateway, secret: str, message: str
) -> None:
    if secret == "for-another-key":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        secret = encrypt_secret(other, b"s3cr3t-value", hashes.SHA256())
    raw, headers = keyed_gateway.sign(sample_body("applicationSync", TENANT, clientSecret=secret, flag=1))
    status, answer = await keyed_gateway.post("applicationSync", raw, headers)
    assert_answer(status, answer, "000101", message)
    assert keyed_gateway.published == []


async def test_a_delete_needs_no_client_secret(keyed_gateway: RunningGateway) -> None:
    raw, headers = keyed_gateway.sign(sample_body("applicationSync", TENANT, clientSecret="garbage", flag=0))
    assert_accepted(*await keyed_gateway.post("applicationSync", raw, headers))


async def test_without_a_configured_key_the_client_secret_is_not_checked(gateway: RunningGateway) -> None:
    raw, headers = gateway.sign(sample_body("applicationSync", TENANT, clientSecret="garbage", flag=1))
    assert_accepted(*await gateway.post("applicationSync", raw, headers))


def test_an_unusable_private_key_is_refused_at_start(tmp_path: Path) -> None:
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a key")
    ec_pem = tmp_path / "ec.pem"
    ec_pem.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ValueError, match="cannot load"):
        ClientSecretChecker.from_settings(Settings(app_private_key=not_pem))
    with pytest.raises(ValueError, match="not an RSA key"):
        ClientSecretChecker.from_settings(Settings(app_private_key=ec_pem))
    with pytest.raises(ValueError, match="cannot load"):
        ClientSecretChecker.from_settings(Settings(app_private_key=tmp_path / "missing.pem"))


def test_the_verifier_takes_its_keys_and_window_from_settings(clock: FixedClock) -> None:
    verifier = SignatureVerifier.from_settings(
        Settings(access_keys=("k1",), signature_window_s=5),  # type: ignore[arg-type]
        clock=clock,
    )
    body = sample_body("tenantSync", TENANT)
    _, headers = signed("k1", body, timestamp_ms=int((clock.now - 6) * 1000))
    with pytest.raises(SignatureRejected, match="expired"):
        verifier.verify(headers, body)
