"""`simulate` end to end against the fake pipeline: signed traffic, settlement, comparison, exit codes."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from runtime.settings import Settings
from schemas.calls import ApplicationSync, Interface, TenantSync
from syncpipe.embedded.process import free_port
from syncpipe.simulation.command import add_arguments, config_from_args, run_from_args
from syncpipe.simulation.config import SimulationConfig
from syncpipe.simulation.exceptions import AckEndpointUnavailable, GatewayUnreachable
from syncpipe.simulation.generator import WorkloadSizes, generate_history
from syncpipe.simulation.report import AckTally
from syncpipe.simulation.runner import simulate
from syncpipe.simulation.snapshot import TenantSnapshot
from tests.syncpipe.simulation.fake_pipeline import API_TOKEN, FakePipeline, serving

SIZES = WorkloadSizes(departments_per_tenant=6, users_per_tenant=5, changes_per_tenant=12)
TENANTS = 3


@pytest.fixture
def pipeline(access_key: str) -> FakePipeline:
    return FakePipeline(access_key=access_key)


@pytest.fixture
async def url(pipeline: FakePipeline) -> AsyncIterator[str]:
    async with serving(pipeline) as base:
        yield base


def config_for(url: str, access_key: str, **overrides: Any) -> SimulationConfig:
    fields: dict[str, Any] = {
        "gateway_url": url,
        "api_url": url,
        "access_key": access_key,
        "api_token": API_TOKEN,
        "tenants": TENANTS,
        "seed": 4,
        "concurrency": 8,
        "settle_timeout_s": 10.0,
        "sizes": SIZES,
        "shuffle_window": 10,
        "resend_fraction": 0.2,
        "poll_interval_s": 0.01,
        "retry_delays_s": (0.01, 0.01, 0.01),
        # The fake pipeline knows the sync calls only; the instances run end to end (test_instance_simulation.py).
        "instances": 0,
    }
    return SimulationConfig(**{**fields, **overrides})


def history_size() -> int:
    return len(generate_history(4, TENANTS, SIZES))


def rename_first_department(tenant_id: str, snapshot: TenantSnapshot) -> TenantSnapshot:
    first, *rest = snapshot.departments
    return dataclasses.replace(snapshot, departments=[{**first, "orgName": "研发部 (wrong)"}, *rest])


async def test_a_converging_pipeline_is_reported_ok(pipeline: FakePipeline, url: str, access_key: str) -> None:
    report = await simulate(config_for(url, access_key))

    distinct = history_size()
    assert report.ok, report.render()
    assert report.calls_sent == distinct + report.resent
    assert report.resent == round(distinct * 0.2)
    assert report.accepted == report.calls_sent
    assert report.rejected == {}
    assert report.event_statuses == {"applied": len(pipeline.accepted)}
    assert report.tenants_converged == report.tenants == TENANTS
    assert report.mismatches == []
    assert report.calls_per_s > 0
    assert "simulation OK" in report.render()
    assert report.to_json()["tenantsConverged"] == TENANTS


async def test_every_request_is_signed_over_the_bytes_it_carries(
    pipeline: FakePipeline, url: str, access_key: str
) -> None:
    await simulate(config_for(url, access_key))

    assert pipeline.bad_signatures == 0
    assert len(pipeline.nonces) == pipeline.posts
    assert any("研".encode() in raw or "部".encode() in raw for raw in pipeline.raw_bodies)


async def test_a_wrong_access_key_gets_every_call_refused(pipeline: FakePipeline, url: str) -> None:
    report = await simulate(config_for(url, "not-the-key"))

    assert report.accepted == 0
    assert report.rejected == {"000001": report.calls_sent}
    assert pipeline.bad_signatures == report.calls_sent


async def test_the_runner_waits_until_every_event_is_final(pipeline: FakePipeline, url: str, access_key: str) -> None:
    pipeline.polls_to_settle = 3

    report = await simulate(config_for(url, access_key))

    assert report.ok, report.render()
    assert min(pipeline.polls.values()) == 4


async def test_a_wrong_department_name_is_reported_as_a_mismatch(
    pipeline: FakePipeline, url: str, access_key: str
) -> None:
    pipeline.served = rename_first_department

    report = await simulate(config_for(url, access_key))

    assert not report.ok
    assert len(report.mismatches) == TENANTS
    [line] = report.mismatches[0].differences
    assert "orgName expected" in line
    assert "研发部 (wrong)" in line
    assert report.mismatches[0].tenant_id in report.render()
    assert "simulation FAILED" in report.render()


async def test_calls_refused_by_the_gateway_are_left_out_of_the_model(
    pipeline: FakePipeline, url: str, access_key: str
) -> None:
    pipeline.refuse = {Interface.APPLICATION_SYNC: "000101"}

    report = await simulate(config_for(url, access_key))

    assert report.ok, report.render()
    assert set(report.rejected) == {"000101"}
    assert report.accepted + report.rejected["000101"] == report.calls_sent


async def test_unavailable_answers_are_retried(pipeline: FakePipeline, url: str, access_key: str) -> None:
    pipeline.unavailable_answers = 2

    report = await simulate(config_for(url, access_key))

    assert report.ok, report.render()
    assert report.retries == 2
    assert report.rejected == {}


async def test_events_that_never_settle_fail_the_run(pipeline: FakePipeline, url: str, access_key: str) -> None:
    pipeline.polls_to_settle = 10**6

    report = await simulate(config_for(url, access_key, settle_timeout_s=0.2))

    assert report.unsettled == len(pipeline.accepted)
    assert not report.ok


async def test_dead_lettered_events_fail_the_run(pipeline: FakePipeline, url: str, access_key: str) -> None:
    pipeline.final_status = "dead_lettered"

    report = await simulate(config_for(url, access_key))

    assert report.mismatches == []
    assert not report.ok


async def test_a_tenant_that_cannot_be_read_is_a_mismatch(pipeline: FakePipeline, url: str, access_key: str) -> None:
    pipeline.failing_tenant = generate_history(4, TENANTS, SIZES)[0].body["tenantId"]

    report = await simulate(config_for(url, access_key))

    [mismatch] = report.mismatches
    assert mismatch.tenant_id == pipeline.failing_tenant
    assert "HTTP 500" in mismatch.differences[0]


async def test_client_secrets_are_sealed_for_the_merchants_key(
    pipeline: FakePipeline, url: str, access_key: str, tmp_path: Path
) -> None:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pipeline.private_key = private_key
    public_pem = tmp_path / "merchant.pub.pem"
    public_pem.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )

    sealed = await simulate(config_for(url, access_key, client_secret_key=public_pem))
    unsealed = await simulate(config_for(url, access_key, seed=5))

    assert sealed.ok, sealed.render()
    assert sealed.rejected == {}
    assert set(unsealed.rejected) == {"000101"}


async def test_an_unreachable_gateway_stops_the_run_at_once(access_key: str) -> None:
    with pytest.raises(GatewayUnreachable):
        await simulate(config_for("http://127.0.0.1:9", access_key))


@pytest.fixture
def ack_port(pipeline: FakePipeline) -> int:
    """A free port for the simulator's ack endpoint, and the fake pipeline acknowledging there."""
    port = free_port()
    pipeline.ack_url = f"http://127.0.0.1:{port}/platform/acks"
    return port


async def test_every_accepted_event_acknowledged_is_ok(
    pipeline: FakePipeline, url: str, access_key: str, ack_port: int
) -> None:
    report = await simulate(config_for(url, access_key, ack_port=ack_port))

    assert report.ok, report.render()
    assert report.acks == AckTally(received=report.calls_sent, unacknowledged=0, wrong_status=0, bad_signatures=0)
    assert "accepted events never acknowledged: 0" in report.render()
    assert report.to_json()["acks"]["received"] == report.calls_sent


async def test_events_never_acknowledged_fail_the_run(
    pipeline: FakePipeline, url: str, access_key: str, ack_port: int
) -> None:
    pipeline.acks_left_out = 2

    report = await simulate(config_for(url, access_key, ack_port=ack_port, resend_fraction=0.0, settle_timeout_s=1))

    assert report.acks is not None
    assert report.acks.unacknowledged == 2
    assert not report.ok
    assert report.mismatches == []


async def test_acks_signed_with_another_key_fail_the_run(
    pipeline: FakePipeline, url: str, access_key: str, ack_port: int
) -> None:
    pipeline.ack_key = "not-the-key"

    report = await simulate(config_for(url, access_key, ack_port=ack_port, settle_timeout_s=1))

    assert report.acks is not None
    assert report.acks.bad_signatures == report.calls_sent
    assert report.acks.unacknowledged == len(pipeline.accepted)
    assert not report.ok


async def test_an_ack_disagreeing_with_the_event_status_fails_the_run(
    pipeline: FakePipeline, url: str, access_key: str, ack_port: int
) -> None:
    pipeline.ack_status = "stale"

    report = await simulate(config_for(url, access_key, ack_port=ack_port))

    assert report.acks is not None
    assert report.acks.wrong_status == len(pipeline.accepted)
    assert not report.ok


async def test_without_an_ack_port_acks_are_not_checked(pipeline: FakePipeline, url: str, access_key: str) -> None:
    report = await simulate(config_for(url, access_key))

    assert report.acks is None
    assert report.to_json()["acks"] is None
    assert "acks" not in report.render()


async def test_an_ack_port_in_use_stops_the_run(url: str, access_key: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(AckEndpointUnavailable):
            await simulate(config_for(url, access_key, ack_port=taken.getsockname()[1]))


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def settings_for(access_key: str) -> Settings:
    return Settings(access_keys=(access_key,), api_token=API_TOKEN)


def cli_args(url: str) -> list[str]:
    return [
        "--gateway-url",
        url,
        "--api-url",
        url,
        "--tenants",
        "2",
        "--departments",
        "4",
        "--users",
        "3",
        "--instances",
        "0",
    ]


async def test_the_command_exits_0_when_converged(
    url: str, access_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_from_args(parse(*cli_args(url), "--changes", "5"), settings_for(access_key))

    assert code == 0
    assert "simulation OK" in capsys.readouterr().out


async def test_the_command_exits_1_on_a_mismatch(
    pipeline: FakePipeline, url: str, access_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.served = rename_first_department

    code = await run_from_args(parse(*cli_args(url), "--json"), settings_for(access_key))

    assert code == 1
    assert '"ok": false' in capsys.readouterr().out


async def test_the_command_exits_2_when_it_cannot_run(access_key: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Every SimulationError (GatewayUnreachable too) ends the same way."""
    no_token = Settings(access_keys=(access_key,), api_token=None)
    assert await run_from_args(parse("--tenants", "1"), no_token) == 2
    assert await run_from_args(parse("--departments", "0"), settings_for(access_key)) == 2
    assert "SYNCPIPE_API_TOKEN" in capsys.readouterr().err
    assert await run_from_args(parse("--instances", "3"), settings_for(access_key)) == 2
    assert "SYNCPIPE_INSTANCE_ACCESS_KEYS" in capsys.readouterr().err


def test_the_arguments_default_to_the_configured_workload() -> None:
    args = parse()
    assert (args.tenants, args.departments, args.window) == (20, WorkloadSizes().departments_per_tenant, 50)
    assert args.instances == 20
    assert args.gateway_url is None
    assert args.ack_port is None


def test_the_ack_port_reaches_the_config(access_key: str) -> None:
    args = parse("--ack-port", "9099", "--ack-host", "0.0.0.0", "--instances", "0")
    config = config_from_args(args, settings_for(access_key))
    assert (config.ack_port, config.ack_host) == (9099, "0.0.0.0")


def test_the_instance_key_and_base_path_reach_the_config(access_key: str) -> None:
    settings = Settings(
        access_keys=(access_key,),  # type: ignore[arg-type]
        instance_access_keys=("first-instance-key", "second-instance-key"),  # type: ignore[arg-type]
        api_token=API_TOKEN,
        gateway_base_path="/saas",
    )
    config = config_from_args(parse("--instances", "7"), settings)
    assert config.instance_access_key is not None
    assert (config.instances, config.instance_access_key.get_secret_value(), config.gateway_base_path) == (
        7,
        "first-instance-key",
        "/saas",
    )


async def test_with_an_identity_port_the_simulated_users_sign_in_there_until_the_command_stops(
    pipeline: FakePipeline, url: str, access_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`syncpipe simulate --identity-port`: the tenants' domainName points at the identity service it
    serves, whose login page redirects to the sign-in service's callback with a code that its token
    endpoint exchanges, whose userinfo names the user and whose logout redirects back; it serves after
    the report, until stopped."""
    port = free_port()
    settings = settings_for(access_key).model_copy(update={"signin_public_url": "https://signin.example.com/"})
    command = asyncio.create_task(run_from_args(parse(*cli_args(url), "--identity-port", str(port)), settings))
    printed = await _printed_until(command, capsys, "SYNCPIPE_SIGNIN_LOGIN_URL=")
    base = f"http://127.0.0.1:{port}"
    assert f"SYNCPIPE_SIGNIN_LOGIN_URL='{base}/unified-login/#/portal-login?ind=UNOP&appId={{appId}}'" in printed

    calls = sorted(pipeline.accepted.values(), key=lambda call: call.timeStamp)
    domains = {call.tenantId: call.domainName for call in calls if isinstance(call, TenantSync) and call.domainName}
    assert domains
    assert all(domain.startswith(f"{base}/") for domain in domains.values())
    apps = {(call.tenantId, call.appId): call for call in calls if isinstance(call, ApplicationSync)}
    async with aiohttp.ClientSession() as session:
        for tenant_id, app_id in apps:
            async with session.get(f"{base}/unified-login/accounts", params={"appId": app_id}) as page:
                users = re.findall(r'name="userName" value="([^"]+)"', await page.text())
            if page.status == 200 and users and tenant_id in domains:
                break
        else:
            raise AssertionError("no simulated app with accounts")
        app, sign_in = apps[tenant_id, app_id], {"appId": app_id, "userName": users[0]}
        async with session.post(f"{base}/unified-login/sign-in", data=sign_in, allow_redirects=False) as answer:
            callback = urlsplit(answer.headers["Location"])
        assert (answer.status, callback.netloc, callback.path) == (
            302,
            "signin.example.com",
            f"/signin/callback/{app_id}",
        )
        query = parse_qs(callback.query)
        assert query["tenant"] == [tenant_id]
        form = {
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "client_id": app.clientId,
            "client_secret": app.clientSecret,
            "redirect_uri": f"https://signin.example.com/signin/callback/{app_id}",
        }
        async with session.post(f"{domains[tenant_id]}/api/v1/oauth2/token", data=form) as answer:
            token = (await answer.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with session.get(f"{domains[tenant_id]}/api/v1/oauth2/userinfo", headers=headers) as answer:
            assert (await answer.json())["userName"] == users[0]
        logout = f"{domains[tenant_id]}/api/v1/logout?redirect_url=https://app.example.com/"
        async with session.get(logout, allow_redirects=False) as answer:
            assert (answer.status, answer.headers["Location"]) == (302, "https://app.example.com/")

    command.cancel()
    with pytest.raises(asyncio.CancelledError):
        await command
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


async def test_with_an_identity_port_a_run_that_did_not_converge_exits_at_once(
    pipeline: FakePipeline, url: str, access_key: str
) -> None:
    pipeline.served = rename_first_department
    args = parse(*cli_args(url), "--identity-port", str(free_port()))
    assert await asyncio.wait_for(run_from_args(args, settings_for(access_key)), timeout=60) == 1


async def _printed_until(command: asyncio.Task[int], capsys: pytest.CaptureFixture[str], text: str) -> str:
    """What the command printed (stdout and stderr) by the time `text` appears; fails if it ends first."""
    printed = ""
    async with asyncio.timeout(60):
        while text not in printed:
            assert not command.done(), (command.result(), printed)
            await asyncio.sleep(0.05)
            captured = capsys.readouterr()
            printed += captured.out + captured.err
    return printed
