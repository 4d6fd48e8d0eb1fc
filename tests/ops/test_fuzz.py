"""Property-based fuzzing of both HTTP apps: arbitrary methods, paths, headers and bodies, signed or not.

The gateway runs in process with a recording publisher and the real verifier; the read API on a
real, seeded Postgres. Whatever arrives:
 - nothing answers 5xx but the documented 503 (the gateway's 000005, the API's database outage);
 - nothing hangs: every request is answered, or the connection closed, within a deadline;
 - nothing reaches the publisher without a valid signature, and every 000000 is exactly one
   published event with that id;
 - a documented operation answers only statuses its OpenAPI description lists, and the gateway's
   call routes always answer the JSON of SPEC §3 (§9 for the instance calls, whose signatures and
   stored events obey the same rules).
Hypothesis generates the cases (a few thousand per run); a failing case is shrunk and printed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import secrets
import string
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import build_app
from gateway.client_secret import ClientSecretChecker
from gateway.errors import NotAnswered, NotStored, ResultCode
from gateway.instance_directory import InstanceEntry
from gateway.verification import SignatureVerifier
from read_api import build_api_app
from runtime.postgres.migrate import migrate_url
from runtime.settings import Settings
from schemas.calls import Interface
from schemas.canonical import canonical_json, signed_headers
from schemas.exceptions import InvalidCall
from schemas.instance_body import read_instance_body
from schemas.instance_calls import AppInfo, derive_instance_id
from schemas.instance_signature import signed_query
from tests.gateway.conftest import FixedClock
from tests.gateway.fakes import FakeInstanceDirectory, RecordingPublisher
from tests.gateway.platform import sample_body
from tests.ops.openapi_check import Operation, documented_operations, template_of
from tests.read_api.instance_seed import apply_instance_calls
from tests.read_api.seed import insert_department, insert_event, insert_tenant, insert_user
from tests.running import ServedLikeAProcess

# Per request: far above any honest answer here (milliseconds), far below "hangs".
REQUEST_DEADLINE_S = 5.0
# The body read bound of the apps under test, shortened so a declared-but-missing body ends quickly.
BODY_TIMEOUT_S = 0.5
GATEWAY_CASES = 3000
INSTANCE_CASES = 1500
RAW_CASES = 1500
READ_API_CASES = 2000

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
OPERATIONS = documented_operations()
TEMPLATES = sorted({operation.template for operation in OPERATIONS.values()}, key=len, reverse=True)
GATEWAY_CODES = frozenset(code.value for code in ResultCode)

# --- the apps ------------------------------------------------------------------------------------


@dataclass
class FuzzedGateway:
    client: TestClient[web.Request, web.Application]
    publisher: RecordingPublisher
    clock: FixedClock
    access_key: str
    directory: FakeInstanceDirectory
    replays_accepted: int = 0
    result_codes: Counter[str] = field(default_factory=Counter)
    instance_codes: Counter[str] = field(default_factory=Counter)
    instance_replays_accepted: int = 0


@pytest.fixture
async def fuzzed_gateway() -> AsyncIterator[FuzzedGateway]:
    access_key = secrets.token_urlsafe(24)
    settings_ = Settings(
        access_keys=(access_key,),  # type: ignore[arg-type]
        instance_access_keys=(INSTANCE_KEY,),  # type: ignore[arg-type]
        max_body_bytes=4096,
        max_full_sync_bytes=8192,
    )
    clock = FixedClock(1_767_600_000.0)
    publisher = RecordingPublisher()
    directory = FakeInstanceDirectory()
    directory.entries[derive_instance_id("CS-F", "CS-F-1")] = InstanceEntry("ready", AppInfo(frontEndUrl="https://f"))
    verifier = SignatureVerifier.from_settings(settings_, clock=clock)
    app = build_app(
        settings_,
        publisher,
        verifier,
        ClientSecretChecker(None),
        body_timeout_s=BODY_TIMEOUT_S,
        instance_directory=directory,
    )
    # keepalive_timeout as the processes set it (http_runner), short: bounds headers that never end.
    async with TestClient(ServedLikeAProcess(app, keepalive_timeout=1.0)) as client:
        gateway = FuzzedGateway(client, publisher, clock, access_key, directory)
        yield gateway
    if gateway.result_codes.total() >= 500:
        # Not vacuous: the cases reached every answer, acceptance included.
        assert set(gateway.result_codes) >= {"000000", "000001", "000002", "000005"}, gateway.result_codes
        assert gateway.result_codes["000000"] >= 50, gateway.result_codes
    if gateway.instance_codes.total() >= 500:
        assert set(gateway.instance_codes) >= {"000000", "000001", "000002", "000003", "000004", "000005"}, (
            gateway.instance_codes
        )


@dataclass
class FuzzedApi:
    client: TestClient[web.Request, web.Application]
    token: str


@pytest.fixture
async def fuzzed_api(database_url: str) -> AsyncIterator[FuzzedApi]:
    await migrate_url(database_url)
    async with asyncpg.create_pool(database_url, min_size=1, max_size=4) as pool:
        async with pool.acquire() as db:
            await apply_instance_calls(db, [(0, {"activity": "newInstance", "orderId": "o", "orderLineId": "l"})])
            await insert_tenant(db, "t-1")
            await insert_department(db, "t-1", "root")
            await insert_department(db, "t-1", "child", "root")
            await insert_user(db, "t-1", {"userName": "ada", "name": "Ada", "orgCode": "child"})
            await insert_event(db, "e" * 32, "t-1", "applied")
        token = secrets.token_urlsafe(24)
        async with TestClient(ServedLikeAProcess(build_api_app(pool, token), keepalive_timeout=1.0)) as client:
            yield FuzzedApi(client, token)


# --- what is thrown at them ----------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
header_values = st.text(
    alphabet=string.printable.replace("\r", "").replace("\n", "").replace("\x0b", "").replace("\x0c", ""), max_size=40
)
header_names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,15}\Z").filter(
    lambda name: name.lower() not in {"content-length", "transfer-encoding", "host", "content-encoding", "connection"}
)
# Percent-encoded text, or any bytes percent-encoded (invalid UTF-8 included).
path_segments = st.one_of(
    st.text(max_size=70).filter(lambda text: "/" not in text).map(lambda text: quote(text, safe="")),
    st.binary(max_size=40).filter(lambda raw: b"/" not in raw).map(lambda raw: quote(raw, safe="")),
)
INTERFACES = sorted(interface.value for interface in Interface)
interfaces = st.sampled_from(INTERFACES)


@st.composite
def call_bodies(draw: st.DrawFn, interface: str) -> dict[str, Any]:
    """A valid call of `interface`, then a few mutations: fields dropped, retyped, added, lengthened."""
    body = sample_body(interface, draw(st.text(min_size=1, max_size=70)))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
        key = draw(st.sampled_from(sorted(body))) if body else "tenantId"
        match draw(st.sampled_from(["drop", "retype", "add", "long", "recase"])):
            case "drop":
                body.pop(key, None)
            case "retype":
                body[key] = draw(json_values)
            case "add":
                body[draw(st.text(max_size=12))] = draw(json_values)
            case "long":
                body[key] = "x" * draw(st.integers(60, 300))
            case "recase":
                body[key[:1].swapcase() + key[1:]] = body.pop(key)
    return body


@dataclass
class CallCase:
    method: str
    path: str
    raw: bytes
    headers: dict[str, str]
    signature: str  # "valid" only when the body is a JSON object signed with the configured key
    store_fails: bool


@st.composite
def call_cases(draw: st.DrawFn, gateway: FuzzedGateway) -> CallCase:
    # Weights by sampling labels: mostly real interfaces and near-valid calls, so that the signature,
    # validation and storing paths are all reached, not only the early refusals.
    interface = draw(interfaces if draw(st.sampled_from(["known"] * 3 + ["any"])) == "known" else path_segments)
    # Not HEAD: aiohttp answers a HEAD it cannot parse with a body, which its own client then refuses.
    method = draw(st.sampled_from(["POST"] * 8 + ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]))
    path = f"/produceAPI/v2/{interface}"
    if draw(st.integers(0, 9)) == 0:  # now and then, anywhere else
        path = draw(
            st.one_of(
                path_segments.map(lambda segment: f"/produceAPI/v2/{interface}/{segment}"),
                st.sampled_from(["/healthz", "/readyz", "/metrics", "/openapi.json", "/", "/produceAPI/v2/"]),
                path_segments.map(lambda segment: f"/{segment}"),
            )
        )
    kind = draw(st.sampled_from(["call"] * 7 + ["json", "json", "bytes"]))
    body: Any = draw(
        call_bodies(interface if interface in INTERFACES else "tenantSync")
        if kind == "call"
        else json_values
        if kind == "json"
        else st.binary(max_size=300)
    )
    if isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(body, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 0, 2]))).encode()
    signature = draw(
        st.sampled_from(["valid"] * 6 + ["none", "garbage", "wrong key", "expired", "replayed", "malformed"])
    )
    if not isinstance(body, dict) or not _signable(body):
        signature = draw(st.sampled_from(["none", "garbage", "malformed"]))
    headers = _signature_headers(draw, gateway, body, signature)
    headers |= draw(st.dictionaries(header_names, header_values, max_size=4))
    if draw(st.booleans()):
        headers["Content-Type"] = draw(
            st.sampled_from(["application/json", "text/plain", "application/json; charset=latin-1", "x/y"])
        )
    encoding = draw(st.sampled_from([None] * 15 + ["gzip", "deflate", "gzip-garbage", "identity", "br"]))
    if encoding == "gzip":
        raw, headers["Content-Encoding"] = gzip.compress(raw), "gzip"
    elif encoding == "deflate":
        raw, headers["Content-Encoding"] = zlib.compress(raw), "deflate"
    elif encoding == "gzip-garbage":
        headers["Content-Encoding"] = "gzip"
    elif encoding is not None:
        headers["Content-Encoding"] = encoding
    return CallCase(method, path, raw, headers, signature, store_fails=draw(st.integers(0, 19)) == 0)


def _signable(body: dict[str, Any]) -> bool:
    """Whether the platform could sign `body`: NaN and the infinities have no canonical form (not JSON)."""
    try:
        canonical_json(body)
    except (ValueError, RecursionError):
        return False
    return True


def _signature_headers(draw: st.DrawFn, gateway: FuzzedGateway, body: Any, signature: str) -> dict[str, str]:
    now_ms = int(gateway.clock.now * 1000)
    nonce = secrets.token_hex(16)
    match signature:
        case "valid":
            return signed_headers(gateway.access_key, nonce, now_ms, body)
        case "wrong key":
            return signed_headers(secrets.token_urlsafe(24), nonce, now_ms, body)
        case "expired":
            return signed_headers(gateway.access_key, nonce, now_ms - 3_600_000, body)
        case "replayed":
            # The same nonce every time: its first use may pass, no later one may.
            return signed_headers(gateway.access_key, "fuzz-replayed-nonce", now_ms, body)
        case "garbage":
            return {"x-sign": secrets.token_hex(32), "x-timestamp": str(now_ms), "x-nonce": nonce}
        case "malformed":
            return {name: draw(header_values) for name in ("x-sign", "x-timestamp", "x-nonce")}
    return {}


# --- the properties ------------------------------------------------------------------------------


@settings(FUZZ, max_examples=GATEWAY_CASES)
@given(data=st.data())
async def test_the_gateway_survives_anything_and_stores_only_signed_calls(
    fuzzed_gateway: FuzzedGateway, data: st.DataObject
) -> None:
    gateway = fuzzed_gateway
    case = data.draw(call_cases(gateway))
    gateway.publisher.failure = NotStored("fuzz: the broker is away") if case.store_fails else None
    published_before = len(gateway.publisher.published)
    async with asyncio.timeout(REQUEST_DEADLINE_S):
        async with gateway.client.request(case.method, case.path, data=case.raw, headers=case.headers) as response:
            status, text = response.status, await response.text()
            content_type = response.content_type
    published = gateway.publisher.published[published_before:]

    assert status < 500 or status == 503, (status, text)
    operation = _operation(case.method, response.url.path)
    if operation is not None:
        assert status in operation.statuses, (operation, status, text)
    if status == 400:  # refused by the HTTP layer (see the OpenAPI description), before any handler
        assert content_type == "application/json", (case, text)
        assert json.loads(text)["resultCode"] == "000002", text
        assert json.loads(text)["resultMsg"].startswith("request: malformed HTTP"), text
    elif operation is not None and operation.template == "/produceAPI/v2/{interface}":
        assert content_type == "application/json"
        answer = json.loads(text)
        gateway.result_codes[answer["resultCode"]] += 1
        assert answer["resultCode"] in GATEWAY_CODES
        assert isinstance(answer["resultMsg"], str)
        assert (status == 503) == (answer["resultCode"] == "000005"), answer
        if answer["resultCode"] == "000000":
            assert case.signature in ("valid", "replayed"), (case, answer)
            assert [envelope.eventId for envelope in published] == [answer["eventId"]]
            if case.signature == "replayed":
                gateway.replays_accepted += 1
                assert gateway.replays_accepted == 1, "a nonce was accepted twice"
            return
    elif status == 503:
        assert response.url.path == "/readyz", (case.method, case.path, text)
    assert published == [], (case, status, text)


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    """Bytes on the wire: a request line and headers that may break every rule, then a body."""
    method = draw(st.sampled_from([b"POST", b"GET", b"PUT", b"BREW", b"post", b"", b"P\x00ST", b"GET GET"]))
    target = draw(
        st.one_of(
            st.sampled_from(
                [b"/produceAPI/v2/tenantSync", b"/produceAPI/v2/allOrgSync", b"/readyz", b"*", b"http://x/y"]
            ),
            st.binary(max_size=60),
        )
    )
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/9", b"", b"http/1.1"]))
    lines = [method + b" " + target + b" " + version]
    lines += draw(st.lists(st.binary(max_size=60).filter(lambda b: b"\r\n" not in b), max_size=5))
    body = draw(st.binary(max_size=200))
    length = draw(st.sampled_from(["exact", "short", "long", "none", "chunked", "garbage"]))
    if length == "exact":
        lines.append(b"Content-Length: %d" % len(body))
    elif length == "short":
        lines.append(b"Content-Length: %d" % max(0, len(body) - 3))
    elif length == "long":
        lines.append(b"Content-Length: %d" % (len(body) + 10))  # the rest never comes: the body timeout ends it
    elif length == "chunked":
        lines.append(b"Transfer-Encoding: chunked")
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if draw(st.booleans()) else body
    elif length == "garbage":
        lines.append(
            b"Content-Length: " + draw(st.sampled_from([b"-1", b"1e3", b"abc", b"99999999999999999999", b"5, 6"]))
        )
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@settings(FUZZ, max_examples=RAW_CASES)
@given(request=raw_requests())
async def test_the_gateway_survives_malformed_http(fuzzed_gateway: FuzzedGateway, request: bytes) -> None:
    published_before = len(fuzzed_gateway.publisher.published)
    port = fuzzed_gateway.client.port
    assert port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        async with asyncio.timeout(REQUEST_DEADLINE_S):
            answer = await _read_answer(reader)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    if answer:  # or the server hung up without a word, which is allowed for garbage
        status_line = answer.split(b"\r\n", 1)[0]
        assert status_line.startswith(b"HTTP/"), answer[:200]
        status = int(status_line.split()[1])
        assert status < 500 or status == 503, answer[:500]
        if status == 503:
            assert b'"000005"' in answer, answer[:500]
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"aiohttp" not in head.lower(), head  # the server's software and version are nobody's business
        if status == 400:  # the SPEC §3 shape, saying what was wrong without quoting it
            assert json.loads(body)["resultMsg"].startswith("request: malformed HTTP"), body
    assert len(fuzzed_gateway.publisher.published) == published_before


async def _read_answer(reader: asyncio.StreamReader) -> bytes:
    """One HTTP answer (its head, and its body by Content-Length), or b"" if the server hangs up first.

    Not "until the server closes": after answering a request whose body never came, aiohttp keeps
    reading it for up to 10 s (lingering), which is bounded but longer than a test wants to wait.
    """
    answer = b""
    with contextlib.suppress(ConnectionError):
        while b"\r\n\r\n" not in answer:
            chunk = await reader.read(65536)
            if not chunk:
                return answer
            answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        while len(body) < length and (chunk := await reader.read(65536)):
            body += chunk
        return head + b"\r\n\r\n" + body
    return answer


@st.composite
def read_requests(draw: st.DrawFn, token: str) -> tuple[str, str, dict[str, str]]:
    tenant = draw(st.one_of(st.just("t-1"), path_segments.filter(bool)))
    event = draw(st.one_of(st.just("e" * 32), path_segments.filter(bool)))
    instance = draw(st.one_of(st.just(derive_instance_id("o", "l")), path_segments.filter(bool)))
    path = draw(
        st.sampled_from(
            [
                "/v1/instances",
                f"/v1/instances/{instance}",
                f"/v1/instances/{instance}/events",
                f"/v1/instances/{instance}/app-info",
                f"/v1/tenants/{tenant}",
                f"/v1/tenants/{tenant}/departments",
                f"/v1/tenants/{tenant}/users",
                f"/v1/tenants/{tenant}/applications",
                f"/v1/events/{event}",
                "/healthz",
                "/readyz",
                "/metrics",
                "/openapi.json",
                f"/v1/{tenant}",
                f"/{tenant}/{event}",
            ]
        )
    )
    query = draw(
        st.dictionaries(
            st.sampled_from(["format", "x", "tenantId", "status", "limit"]), st.text(max_size=12), max_size=2
        )
    )
    if query:
        path += "?" + "&".join(f"{quote(key)}={quote(value, safe='')}" for key, value in query.items())
    method = draw(st.sampled_from(["GET"] * 6 + ["HEAD", "POST", "PUT", "DELETE", "OPTIONS"]))
    authorization = draw(
        st.one_of(
            st.just(f"Bearer {token}"),
            st.just(f"bearer   {token} "),
            st.just(None),
            header_values.map(lambda value: f"Bearer {value}"),
            header_values,
        )
    )
    headers = draw(st.dictionaries(header_names, header_values, max_size=3))
    if authorization is not None:
        headers["Authorization"] = authorization
    return method, path, headers


@settings(FUZZ, max_examples=READ_API_CASES)
@given(data=st.data())
async def test_the_read_api_survives_anything(fuzzed_api: FuzzedApi, data: st.DataObject) -> None:
    method, path, headers = data.draw(read_requests(fuzzed_api.token))
    async with asyncio.timeout(REQUEST_DEADLINE_S):
        async with fuzzed_api.client.request(method, path, headers=headers) as response:
            status, text = response.status, await response.text()
            content_type = response.content_type
    assert status < 500, (method, path, status, text)  # Postgres is up: not even the documented 503
    operation = _operation(method, response.url.path)
    if operation is not None:
        assert status in operation.statuses, (method, path, status, text)
    if method != "HEAD" and response.url.path != "/metrics":
        assert content_type == "application/json", (method, path, status, content_type)
        json.loads(text)


INSTANCE_KEY = "fuzz-instance-key-0123456789"
ACTIVITIES = ["newInstance", "refreshInstance", "updateInstanceStatus", "upgradeInstance", "releaseInstance"]


@st.composite
def instance_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid instance call (sometimes a query), then mutations: fields dropped, nested, renumbered, lengthened."""
    ids = st.sampled_from([derive_instance_id("CS-F", "CS-F-1"), derive_instance_id("CS-G", "CS-G-1"), "foreign-id"])
    body: dict[str, Any] = {
        "orderId": draw(st.sampled_from(["CS-F", "CS-G"])),
        "orderLineId": draw(st.sampled_from(["CS-F-1", "CS-G-1"])),
        "instanceId": ", ".join(draw(st.lists(ids, min_size=1, max_size=3))),
        "scene": "RENEWAL",
        "expireTime": draw(st.sampled_from(["20270101000000", "20270101000000123", "2027"])),
        "status": draw(st.sampled_from(["FREEZE", "UNFREEZE"])),
        "testFlag": draw(st.sampled_from(["0", "0", "1", 1])),
        "activity": draw(st.sampled_from([*ACTIVITIES, "queryInstance", "queryInstance", "deleteInstance"])),
    }
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        key = draw(st.sampled_from(sorted(body)))
        match draw(st.sampled_from(["drop", "retype", "add", "long"])):
            case "drop":
                body.pop(key, None)
            case "retype":
                body[key] = draw(json_values)
            case "add":
                body[draw(st.text(max_size=12))] = draw(json_scalars)
            case "long":
                body[key] = "x" * draw(st.integers(60, 300))
    return body


@st.composite
def instance_queries(draw: st.DrawFn, gateway: FuzzedGateway, body: dict[str, Any]) -> tuple[dict[str, str], str]:
    """The query parameters of `body`, and how they were made (`valid` only when signed with the key)."""
    now_ms = int(gateway.clock.now * 1000)
    nonce = secrets.token_hex(16)
    try:
        signed_map = read_instance_body(json.dumps(body).encode())
    except InvalidCall:
        signed_map = {}
    kind = draw(st.sampled_from(["valid"] * 6 + ["none", "wrong key", "expired", "replayed", "no timestamp", "junk"]))
    match kind:
        case "valid":
            return signed_query(INSTANCE_KEY, nonce, now_ms, signed_map), kind
        case "wrong key":
            return signed_query(gateway.access_key, nonce, now_ms, signed_map), kind
        case "expired":
            return signed_query(INSTANCE_KEY, nonce, now_ms - 3_600_000, signed_map), kind
        case "replayed":
            return signed_query(INSTANCE_KEY, "fuzz-replayed-instance-nonce", now_ms, signed_map), kind
        case "no timestamp":
            query = signed_query(INSTANCE_KEY, nonce, now_ms, signed_map)
            return {name: value for name, value in query.items() if name != "timestamp"}, kind
        case "junk":
            return draw(st.dictionaries(st.sampled_from(["signature", "timestamp", "nonce"]), header_values)), kind
    return {}, kind


@settings(FUZZ, max_examples=INSTANCE_CASES)
@given(data=st.data())
async def test_the_instance_route_survives_anything_and_stores_only_signed_changes(
    fuzzed_gateway: FuzzedGateway, data: st.DataObject
) -> None:
    gateway = fuzzed_gateway
    body = data.draw(instance_bodies())
    query, signature = data.draw(instance_queries(gateway, body))
    raw = json.dumps(body, ensure_ascii=data.draw(st.booleans())).encode()
    if data.draw(st.integers(0, 19)) == 0:
        raw = data.draw(st.binary(max_size=200))
    gateway.publisher.failure = NotStored("fuzz: the broker is away") if data.draw(st.integers(0, 19)) == 0 else None
    gateway.directory.failure = NotAnswered("fuzz: the database is away") if data.draw(st.integers(0, 9)) == 0 else None
    published_before = len(gateway.publisher.published)
    async with asyncio.timeout(REQUEST_DEADLINE_S):
        async with gateway.client.post("/", params=query, data=raw) as response:
            status, text = response.status, await response.text()
    published = gateway.publisher.published[published_before:]

    assert status in OPERATIONS[("/", "POST")].statuses, (status, text)
    answer = json.loads(text)
    code = answer["resultCode"]
    gateway.instance_codes[code] += 1
    assert code in GATEWAY_CODES, answer
    assert (status == 503) == (code == "000005"), answer
    if "eventId" in answer:  # a change stored: 000000, or a newInstance's 000004
        assert signature in ("valid", "replayed"), (body, answer)
        assert [envelope.eventId for envelope in published] == [answer["eventId"]]
        if signature == "replayed":
            gateway.instance_replays_accepted += 1
            assert gateway.instance_replays_accepted == 1, "a nonce was accepted twice"
        return
    if code in ("000000", "000003", "000004"):  # a query answered: read, never stored
        assert body.get("activity") == "queryInstance", (body, answer)
        assert signature in ("valid", "replayed"), (body, answer)
    assert published == [], (body, status, text)


def _operation(method: str, path: str) -> Operation | None:
    template = template_of(path, TEMPLATES)
    return OPERATIONS.get((template, method)) if template is not None else None
