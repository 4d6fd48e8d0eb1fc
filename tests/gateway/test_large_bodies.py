"""Large bodies are parsed, verified and encoded in a process of their own (gateway/parsing.py): one large
call, signed or not, never stalls the small ones, and answers exactly as it would on the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.client_secret import ClientSecretChecker
from gateway.parsing import LARGE_BODY_BYTES, CallParser
from gateway.preparation import Preparation, PreparedCall
from gateway.verification import SignatureHeaders
from runtime.settings import Settings
from schemas.calls import Interface, parse_call
from schemas.envelope import EventEnvelope
from tests.conftest import WHOLE_MACHINE
from tests.gateway.conftest import RunningGateway, StartGateway
from tests.gateway.platform import sample_body

pytestmark = WHOLE_MACHINE

REPO = Path(__file__).resolve().parents[2]
# Fractions are the slowest to put in canonical form (each written as Java writes a double, in Python:
# ~10 us each on an idle 2-core machine; the rest of the JSON goes through orjson): 4.5 MiB with 100,000
# of them keep a parser busy for about a second.
_SLOW_TO_PARSE = [{"k": 1.5}] * 100_000 + [{"k": 1}] * 350_000


@pytest.fixture
async def parser(gateway_settings: Settings, access_key: str) -> AsyncIterator[CallParser]:
    preparation = Preparation((access_key,), ClientSecretChecker(None), gateway_settings.max_record_bytes)
    async with CallParser(preparation, gateway_settings, processes=1) as parser:
        yield parser


@pytest.fixture
async def gateway(start_gateway: StartGateway, parser: CallParser) -> RunningGateway:
    return await start_gateway(parser=parser)


async def post(gateway: RunningGateway, interface: str, raw: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    async with gateway.client.post(f"/produceAPI/v2/{interface}", data=io.BytesIO(raw), headers=headers) as response:
        return response.status, await response.json()


async def test_a_large_unsigned_body_does_not_stall_small_calls(gateway: RunningGateway, parser: CallParser) -> None:
    """Parsed on the event loop, a 4 MiB unsigned body held every other call until it was refused: no
    small call could be answered while it was parsed. Counted, not timed, so that one small call slowed
    by a busy machine cannot fail it; parsed on the loop, none is answered in that window."""
    parsing: list[float] = []  # when the large body's parse began and ended, as the event loop saw it
    prepare = parser.prepare

    async def timed(interface: Interface, raw: bytes, headers: SignatureHeaders) -> PreparedCall:
        large = len(raw) >= LARGE_BODY_BYTES
        if large:
            parsing.append(time.monotonic())
        try:
            return await prepare(interface, raw, headers)
        finally:
            if large:
                parsing.append(time.monotonic())

    parser.prepare = timed  # type: ignore[method-assign]
    large = json.dumps(sample_body("allOrgSync", "t-large", orgInfoList=_SLOW_TO_PARSE)).encode()
    _, headers = gateway.sign({})  # well-formed and current, but not this body's: it must be parsed to tell
    refused = asyncio.create_task(post(gateway, "allOrgSync", large, headers))
    answered: list[float] = []
    while not refused.done():
        raw, small_headers = gateway.sign(sample_body("tenantSync", f"t-small-{len(answered)}"))
        status, answer = await post(gateway, "tenantSync", raw, small_headers)
        assert (status, answer["resultCode"]) == (200, "000000"), answer
        answered.append(time.monotonic())
    status, answer = await refused
    assert (status, answer["resultCode"]) == (200, "000001"), answer
    began, ended = parsing
    assert ended - began > 0.3, "the large body was parsed too fast to tell anything"
    meanwhile = sum(began < at < ended for at in answered)
    assert meanwhile >= 5, (meanwhile, ended - began, len(answered))


async def test_a_large_call_is_stored_as_it_would_be_on_the_event_loop(gateway: RunningGateway) -> None:
    departments = [{"orgCode": f"D{n:06d}", "orgName": f"部门 {n}", "parentCode": ""} for n in range(20_000)]
    body = sample_body("allOrgSync", "t-large-signed", orgInfoList=departments)
    raw, headers = gateway.sign(body)
    assert len(raw) >= LARGE_BODY_BYTES
    status, answer = await post(gateway, "allOrgSync", raw, headers)
    assert (status, answer["resultCode"]) == (200, "000000"), answer
    expected = EventEnvelope.from_call(parse_call("allOrgSync", body), accepted_at=datetime.now(UTC))
    [stored] = gateway.published
    assert (stored.eventId, stored.call) == (expected.eventId, expected.call) == (answer["eventId"], expected.call)
    assert len(gateway.publisher.records) > 1  # in parts, as the publisher writes a large event

    assert (await post(gateway, "allOrgSync", raw, headers))[1]["resultCode"] == "000001"  # its nonce is known


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ("not json", "000002", "body: not valid JSON"),
        ("wrong key", "000001", "x-sign: signature does not match"),
        ("field", "000002", "orgInfoList"),
    ],
)
async def test_a_large_body_is_refused_as_it_would_be_on_the_event_loop(
    gateway: RunningGateway, change: str, code: str, words: str
) -> None:
    departments: Any = [{"orgCode": f"D{n:06d}", "orgName": "x", "parentCode": ""} for n in range(5_000)]
    if change == "field":
        departments = {"not": "a list"}
    raw, headers = gateway.sign(sample_body("allOrgSync", "t-large-refused", orgInfoList=departments))
    if change == "not json":
        raw = raw[:-1] + b" " * LARGE_BODY_BYTES
    if change == "wrong key":
        _, headers = gateway.sign(json.loads(raw), key="another-key-of-32-characters-000")
    status, answer = await post(gateway, "allOrgSync", raw, headers)
    assert (status, answer["resultCode"]) == (200, code), answer
    assert words in answer["resultMsg"]
    assert gateway.published == []


async def test_a_parsing_process_that_dies_answers_000005_and_another_takes_its_place(
    gateway: RunningGateway,
) -> None:
    departments = [{"orgCode": str(n), "orgName": "x", "parentCode": ""} for n in range(100_000)]
    raw, headers = gateway.sign(sample_body("allOrgSync", "t-killed", orgInfoList=departments))
    call = asyncio.create_task(post(gateway, "allOrgSync", raw, headers))
    await asyncio.sleep(0.5)  # sent, and being parsed
    [process] = multiprocessing.active_children()
    os.kill(process.pid, signal.SIGKILL)  # as the kernel's OOM killer would
    status, answer = await call
    assert (status, answer["resultCode"]) == (503, "000005"), answer
    status, answer = await post(gateway, "allOrgSync", raw, headers)  # the same request, sent again
    assert (status, answer["resultCode"]) == (200, "000000"), answer
    assert [envelope.tenantId for envelope in gateway.published] == ["t-killed"]


_PARSER_PROCESS = """
import asyncio, multiprocessing
from gateway.client_secret import ClientSecretChecker
from gateway.parsing import CallParser
from gateway.preparation import Preparation, PreparedCall
from gateway.verification import SignatureHeaders
from runtime.settings import Settings

async def main() -> None:
    preparation = Preparation(("k" * 32,), ClientSecretChecker(None), 900_000)
    async with CallParser(preparation, Settings(), processes=2):
        print(*[child.pid for child in multiprocessing.active_children()], flush=True)
        await asyncio.sleep(600)

if __name__ == "__main__":
    asyncio.run(main())
"""


def test_the_parsing_processes_of_a_killed_gateway_die_with_it(tmp_path: Path) -> None:
    """A gateway that is killed cannot stop its pool: its processes lived on, orphaned, one per kill."""
    script = tmp_path / "gateway_like.py"
    script.write_text(_PARSER_PROCESS)
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}
    ) as gateway_like:
        assert gateway_like.stdout is not None
        children = [int(pid) for pid in gateway_like.stdout.readline().split()]
        gateway_like.kill()
        gateway_like.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(children) >= 2
    assert not [pid for pid in children if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie answers signal 0 until its parent reaps it
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    return False
