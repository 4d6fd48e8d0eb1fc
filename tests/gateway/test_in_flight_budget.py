"""The in-flight budget (gateway/admission.py): bodies count as their bytes arrive, never as declared,
and a client that has not proven it holds a key holds at most its share of them."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.admission import PROVEN_FOR_S, InFlightBudget
from gateway.errors import NotStored
from runtime.settings import Settings
from tests.gateway.conftest import FixedClock, RunningGateway, StartGateway
from tests.gateway.platform import sample_body

# What an idle sender declares: the default limit of allOrgSync (SYNCPIPE_MAX_FULL_SYNC_BYTES).
_FULL_SYNC = 32 * 1024 * 1024
# Far inside the produce timeout (2 s below): an answer that waited for room would take all of it.
_PROMPT_S = 1.0


async def post(gateway: RunningGateway, interface: str, data: Any, headers: dict[str, str]) -> tuple[int, Any]:
    async with gateway.client.post(f"/produceAPI/v2/{interface}", data=data, headers=headers) as response:
        return response.status, await response.json()


@contextlib.asynccontextmanager
async def partial_bodies(
    gateway: RunningGateway, count: int, declared: int, sent: int, *, source: str = "127.0.0.1"
) -> AsyncIterator[list[asyncio.StreamReader]]:
    """`count` connections from `source` that declare an allOrgSync of `declared` bytes with well-formed,
    current signature headers, send `sent` bytes of it and wait; their readers, for what they are told."""
    _, headers = gateway.sign({})
    head = f"POST /produceAPI/v2/allOrgSync HTTP/1.1\r\nHost: gateway\r\nContent-Length: {declared}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    connections = []
    port = gateway.client.port
    assert port is not None
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        writer.write(head.encode() + b"{" + b" " * (sent - 1))
        await writer.drain()
        connections.append((reader, writer))
    await asyncio.sleep(0.3)  # the gateway has read what they sent
    try:
        yield [reader for reader, _ in connections]
    finally:
        for _, writer in connections:
            writer.close()


@pytest.fixture
async def default_limits(start_gateway: StartGateway, gateway_settings: Settings) -> RunningGateway:
    """The default budget (128 MiB, 32 MiB per body), a short produce timeout to wait for room in."""
    return await start_gateway(settings=gateway_settings.model_copy(update={"produce_timeout_s": 2.0}))


@pytest.mark.parametrize("idle", [4, 16])
async def test_idle_connections_declaring_huge_bodies_hold_no_room(default_limits: RunningGateway, idle: int) -> None:
    """Four connections declaring 32 MiB allOrgSync and sending one byte reserved the whole 128 MiB
    budget: every genuine call then waited the produce timeout and was answered 000005."""
    gateway = default_limits
    async with partial_bodies(gateway, idle, declared=_FULL_SYNC, sent=1):
        for n in range(3):
            raw, headers = gateway.sign(sample_body("tenantSync", f"t-genuine-{n}"))
            started = time.monotonic()
            status, answer = await post(gateway, "tenantSync", io.BytesIO(raw), headers)
            assert (status, answer["resultCode"]) == (200, "000000"), answer
            assert time.monotonic() - started < _PROMPT_S
        async with gateway.client.get("/readyz") as ready:
            assert ready.status == 200
    assert len(gateway.published) == 3


@pytest.fixture
async def small_limits(start_gateway: StartGateway, gateway_settings: Settings) -> RunningGateway:
    """A budget of four full syncs of 64 KiB, one of them per unproven client."""
    full_sync = 64 * 1024
    settings = gateway_settings.model_copy(
        update={
            "max_full_sync_bytes": full_sync,
            "gateway_max_in_flight_bytes": 4 * full_sync,
            "gateway_max_unverified_bytes_per_client": full_sync,
            "produce_timeout_s": 2.0,
        }
    )
    return await start_gateway(settings=settings)


async def test_a_client_without_a_key_holds_no_more_than_its_share(small_limits: RunningGateway) -> None:
    """Bodies that do arrive, nearly whole, then stall: from one address they fill only its share, and
    a genuine call from another address still gets room at once."""
    gateway = small_limits
    async with partial_bodies(gateway, 6, declared=64 * 1024, sent=60 * 1024, source="127.0.0.2") as stalled:
        raw, headers = gateway.sign(sample_body("tenantSync", "t-genuine"))
        started = time.monotonic()
        status, answer = await post(gateway, "tenantSync", io.BytesIO(raw), headers)
        assert (status, answer["resultCode"]) == (200, "000000"), answer
        assert time.monotonic() - started < _PROMPT_S
        # The bodies past the share waited for room they could not get: 000005 at the produce timeout.
        answers = await asyncio.gather(*(_answer(reader, 3.0) for reader in stalled))
    refused = [answer for answer in answers if answer and answer["resultCode"] == "000005"]
    assert len(refused) == 5, answers


async def test_a_proven_client_is_not_held_to_the_share(small_limits: RunningGateway) -> None:
    """The platform's calls arrive side by side: once one of its calls passed the signature, its address
    may hold more than the share (here two large bodies at once, each nearly the share)."""
    gateway = small_limits
    body = sample_body("allOrgSync", "t-proven", orgInfoList=[{"orgCode": "x" * 40, "orgName": "y"}] * 850)
    raw, headers = gateway.sign(body)
    assert 40 * 1024 < len(raw) <= 64 * 1024
    assert (await post(gateway, "allOrgSync", io.BytesIO(raw), headers))[1]["resultCode"] == "000000"

    async def slowly(raw: bytes) -> AsyncIterator[bytes]:
        yield raw[: len(raw) - 10]
        # Both bodies held at once, unverified, most of the share each, longer than a call waits for room.
        await asyncio.sleep(2.5)
        yield raw[len(raw) - 10 :]

    calls = []
    for n in range(2):
        raw, headers = gateway.sign(sample_body("allOrgSync", f"t-proven-{n}", orgInfoList=body["orgInfoList"]))
        calls.append(post(gateway, "allOrgSync", slowly(raw), headers))
    answers = await asyncio.gather(*calls)
    assert [answer["resultCode"] for _, answer in answers] == ["000000", "000000"], answers


async def _answer(reader: asyncio.StreamReader, timeout_s: float) -> dict[str, Any] | None:
    """The JSON answer on a connection, if one comes within `timeout_s` (the server keeps reading the
    rest of an unread body for a while after answering: not until it hangs up)."""
    with contextlib.suppress(TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        async with asyncio.timeout(timeout_s):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            answer: dict[str, Any] = json.loads(await reader.readexactly(length))
            return answer
    return None


# --- the budget itself ------------------------------------------------------------------------------------


async def test_the_budget_never_holds_more_than_its_bytes() -> None:
    budget = InFlightBudget(max_bytes=100, wait_s=0.2)
    peak = 0

    async def call(size: int, hold_s: float) -> None:
        nonlocal peak
        async with budget.admit("client") as admission:
            for piece in (size // 2, size - size // 2):
                await admission.take(piece)
                await asyncio.sleep(hold_s)
            peak = max(peak, budget.used)

    await asyncio.gather(*(call(size, 0.01) for size in (60, 30, 50, 20, 100, 10) * 5), return_exceptions=True)
    assert peak <= 100
    assert budget.used == 0
    async with budget.admit("a") as full:
        await full.take(100)
        async with budget.admit("b") as late:
            with pytest.raises(NotStored):
                await late.take(1)
    assert budget.used == 0


async def test_unverified_bytes_of_one_client_are_held_to_its_share() -> None:
    clock = FixedClock(1000.0)
    budget = InFlightBudget(max_bytes=1000, wait_s=0.1, unverified_per_client=100, clock=clock)
    async with budget.admit("attacker") as first, budget.admit("attacker") as second:
        await first.take(90)
        with pytest.raises(NotStored):
            await second.take(20)  # past its share, with room to spare in the budget
        async with budget.admit("platform") as other:
            await other.take(100)  # another client's share is its own
        first.verified_signature()
        await second.take(20)  # verified bytes no longer count in the share
        assert budget.unverified("attacker") == 20
    assert (budget.used, budget.unverified("attacker")) == (0, 0)


async def test_a_proven_client_is_held_to_the_whole_budget_only_and_for_a_while() -> None:
    clock = FixedClock(1000.0)
    budget = InFlightBudget(max_bytes=1000, wait_s=0.1, unverified_per_client=100, clock=clock)
    budget.prove("platform")
    async with budget.admit("platform") as call:
        await call.take(500)
    clock.now += PROVEN_FOR_S + 1
    async with budget.admit("platform") as call:
        with pytest.raises(NotStored):
            await call.take(500)


async def test_when_every_holder_waits_for_room_the_youngest_is_refused() -> None:
    """Three calls took 30 of 100 bytes each and all want 40 more: none could ever finish. The youngest
    is refused at once, and its bytes let the two older ones through."""
    budget = InFlightBudget(max_bytes=100, wait_s=5.0)
    taken = asyncio.Barrier(3)
    outcomes: dict[int, str] = {}

    async def call(n: int) -> None:
        async with budget.admit(f"client-{n}") as admission:
            await admission.take(30)
            await taken.wait()
            try:
                await admission.take(40)
            except NotStored:
                outcomes[n] = "refused"
                return
            await asyncio.sleep(0.01)
            outcomes[n] = "done"

    started = time.monotonic()
    await asyncio.gather(*(call(n) for n in range(3)))
    assert outcomes == {0: "done", 1: "done", 2: "refused"}
    assert time.monotonic() - started < 1.0  # not after the 5 s wait
