"""When a call cannot be stored the answer is 503/000005, nothing is kept, and the identical request may come again."""

from __future__ import annotations

import pytest

from gateway.errors import NotStored
from gateway.nonces import NonceCache
from gateway.verification import SignatureVerifier
from tests.gateway.conftest import FixedClock, RunningGateway, StartGateway
from tests.gateway.platform import sample_body

TENANT = "t-store-failures"


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (NotStored("the broker did not acknowledge within 5 s; try again"), "did not acknowledge"),
        (RuntimeError("boom: s3cr3t in an exception message"), "internal error"),
    ],
    ids=["not-stored", "unexpected"],
)
async def test_a_call_that_was_not_stored_is_answered_503_and_may_be_sent_again(
    gateway: RunningGateway, failure: Exception, message: str
) -> None:
    raw, headers = gateway.sign(sample_body("tenantSync", TENANT))
    gateway.publisher.failure = failure
    async with gateway.client.post("/produceAPI/v2/tenantSync", data=raw, headers=headers) as response:
        status, text, answer = response.status, await response.text(), await response.json()
    assert status == 503
    assert answer == {"resultCode": "000005", "resultMsg": answer["resultMsg"]}
    assert message in answer["resultMsg"]
    assert "Traceback" not in text
    assert "s3cr3t" not in text
    assert gateway.published == []

    gateway.publisher.failure = None
    status, answer = await gateway.post("tenantSync", raw, headers)  # the very same nonce
    assert (status, answer["resultCode"]) == (200, "000000")
    assert len(gateway.published) == 1


async def test_a_full_nonce_cache_asks_the_sender_to_try_again(
    start_gateway: StartGateway, access_key: str, clock: FixedClock
) -> None:
    verifier = SignatureVerifier([access_key], window_s=60, nonces=NonceCache(max_entries=1), clock=clock)
    gateway = await start_gateway(verifier=verifier)

    raw, headers = gateway.sign(sample_body("tenantSync", TENANT))
    assert (await gateway.post("tenantSync", raw, headers))[1]["resultCode"] == "000000"
    raw, headers = gateway.sign(sample_body("tenantSync", TENANT, name="other"))
    status, answer = await gateway.post("tenantSync", raw, headers)
    assert (status, answer["resultCode"]) == (503, "000005")
    assert "try again" in answer["resultMsg"]

    gateway.clock.now += 61  # the first nonce leaves the window and frees its place
    raw, headers = gateway.sign(sample_body("tenantSync", TENANT, name="other"))
    assert (await gateway.post("tenantSync", raw, headers))[1]["resultCode"] == "000000"
    assert len(gateway.published) == 2


async def test_a_refused_call_keeps_its_nonce(gateway: RunningGateway) -> None:
    """Only 000005 gives the nonce back: a call refused for its content may not be replayed."""
    raw, headers = gateway.sign(sample_body("tenantSync", TENANT, flag=9))
    assert (await gateway.post("tenantSync", raw, headers))[1]["resultCode"] == "000002"
    assert (await gateway.post("tenantSync", raw, headers))[1][
        "resultMsg"
    ] == "x-nonce: already used (replayed request)"


@pytest.mark.parametrize(("reachable", "status"), [(True, 200), (False, 503)])
async def test_readiness_follows_the_broker_and_liveness_does_not(
    gateway: RunningGateway, reachable: bool, status: int
) -> None:
    gateway.publisher.reachable = reachable
    async with gateway.client.get("/readyz") as response:
        assert response.status == status
        assert (await response.json())["checks"] == {"kafka": "ok" if reachable else "failing"}
    async with gateway.client.get("/healthz") as response:
        assert response.status == 200
