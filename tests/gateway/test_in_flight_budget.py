"""The in-flight budget (gateway/admission.py): bodies count as their bytes arrive, never as declared,
and a client that has not proven it holds a key holds at most its share of them."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator

import pytest

from gateway.admission import PROVEN_FOR_S, InFlightBudget
from gateway.errors import NotStored
from tests.gateway.conftest import SMALL_LIMITS, FixedClock, RunningGateway, StartGateway, limited_gateway
from tests.gateway.platform import sample_body
from tests.gateway.stalled_senders import (
    INSTANCE,
    SYNC,
    Route,
    answer_on,
    genuine_calls_answer_promptly,
    post,
    stalled_bodies,
)

# What an idle sender declares: the largest body its route takes, here the default limit of allOrgSync
# (SYNCPIPE_MAX_FULL_SYNC_BYTES) and the instance calls' (gateway.instance_intake.MAX_INSTANCE_BODY_BYTES).
_FULL_SYNC = 32 * 1024 * 1024
_INSTANCE_LIMIT = 64 * 1024


@pytest.fixture
async def limited(request: pytest.FixtureRequest, start_gateway: StartGateway, access_key: str) -> RunningGateway:
    """A gateway with the limits the test is parametrised with ({}: the defaults, a 128 MiB budget)."""
    return await limited_gateway(start_gateway, access_key, **request.param)


@pytest.mark.parametrize(
    ("limited", "route", "declared", "idle"),
    [
        pytest.param({}, SYNC, _FULL_SYNC, 4, id="sync-4"),
        pytest.param({}, SYNC, _FULL_SYNC, 16, id="sync-16"),
        pytest.param(SMALL_LIMITS, INSTANCE, _INSTANCE_LIMIT, 4, id="instance-4"),
    ],
    indirect=["limited"],
)
async def test_idle_connections_declaring_the_largest_body_hold_no_room(
    limited: RunningGateway, route: Route, declared: int, idle: int
) -> None:
    """Four connections declaring 32 MiB allOrgSync (or four 64 KiB instance calls, in a budget of four
    of them) and sending one byte reserved the whole budget: every genuine call then waited the
    produce timeout and was answered 000005."""
    gateway = limited
    async with stalled_bodies(gateway, route, idle, declared=declared, sent=1):
        for n in range(3):
            await genuine_calls_answer_promptly(gateway, f"t-genuine-{n}")
        async with gateway.client.get("/readyz") as ready:
            assert ready.status == 200
    assert len(gateway.published) == 3 * 2


@pytest.mark.parametrize("route", [SYNC, INSTANCE], ids=lambda route: route.name)
async def test_a_client_without_a_key_holds_no_more_than_its_share(small_limits: RunningGateway, route: Route) -> None:
    """Bodies that do arrive, nearly whole, then stall: from one address they fill only its share (the
    same share on either route), and genuine calls from another address still get room at once."""
    gateway = small_limits
    async with stalled_bodies(gateway, route, 6, declared=64 * 1024, sent=60 * 1024, source="127.0.0.2") as stalled:
        await genuine_calls_answer_promptly(gateway)
        # The bodies past the share waited for room they could not get: 000005 at the produce timeout.
        answers = await asyncio.gather(*(answer_on(reader, 3.0) for reader in stalled))
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
