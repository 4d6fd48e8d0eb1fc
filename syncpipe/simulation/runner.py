"""`syncpipe simulate`: play a seeded workload against a running pipeline and check where it converged.

1. Generate the history and its delivery order (seal client secrets when a key is configured).
2. POST every delivery to the gateway, signed, with bounded concurrency.
3. Feed the model only the calls the gateway accepted (`000000`): a call refused left no trace.
4. Poll the read API until every accepted event has a final status, up to `settle_timeout_s`.
5. With an ack port: wait, within the same settle timeout, until every accepted event was
   acknowledged on the ack endpoint served for the whole run (`ack_receiver.py`).
6. Read every generated tenant back and compare it with the model.
With `instances`, between 2 and 4 the order lifecycle is played too, signed with the instance key
(`instance_runner.py`): its events settle and are acknowledged with the others, and each instance is
compared with its own model (`instance_report.py`).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Mapping, Sequence

import aiohttp

from schemas.calls import AnyCall, parse_call
from schemas.event_id import event_id
from syncpipe.simulation.ack_receiver import AckReceiver, serving_acks
from syncpipe.simulation.client_secret import load_public_key, seal_client_secrets
from syncpipe.simulation.comparison import snapshot_differences
from syncpipe.simulation.concurrency import bounded_gather
from syncpipe.simulation.config import SimulationConfig
from syncpipe.simulation.delivery import Delivery, delivery_order
from syncpipe.simulation.exceptions import AckEndpointUnavailable, ReadApiError, SimulationError
from syncpipe.simulation.generator import generate_history, tenant_ids
from syncpipe.simulation.identity import SimulatedIdentity
from syncpipe.simulation.instance_lifecycles import generate_lifecycles
from syncpipe.simulation.instance_report import tally_instances
from syncpipe.simulation.instance_runner import InstanceRun, LifecyclePlayer
from syncpipe.simulation.instance_sender import InstanceSender
from syncpipe.simulation.model import expected_state
from syncpipe.simulation.read_api import FINAL_STATUSES, ReadApiClient
from syncpipe.simulation.report import UNSETTLED, AckTally, SimulationReport, TenantMismatch
from syncpipe.simulation.sender import ACCEPTED, NO_ANSWER, Answer, PlatformSender, send_all
from syncpipe.simulation.snapshot import TenantSnapshot


async def simulate(config: SimulationConfig, *, identity: SimulatedIdentity | None = None) -> SimulationReport:
    """Run the workload of `config` against the pipeline; raises SimulationError if it cannot be reached.

    With `identity` (the platform's identity service, served), the simulated tenants' domainName
    points at it and it learns their accounts and app credentials, so their users can sign in.
    """
    started = time.monotonic()
    history = generate_history(config.seed, config.tenants, config.sizes)
    if identity is not None:
        history = identity.adopt(history)
    if config.client_secret_key is not None:
        history = seal_client_secrets(history, load_public_key(config.client_secret_key))
    deliveries = delivery_order(
        history, config.seed, window=config.shuffle_window, resend_fraction=config.resend_fraction
    )
    async with contextlib.AsyncExitStack() as stack:
        receiver = None
        if config.ack_port is not None:
            receiver = AckReceiver(config.access_key.get_secret_value())
            try:
                await stack.enter_async_context(serving_acks(receiver, config.ack_host, config.ack_port))
            except OSError as exc:
                where = f"{config.ack_host}:{config.ack_port}"
                raise AckEndpointUnavailable(f"cannot serve the ack endpoint on {where}: {exc}") from None
        session = await stack.enter_async_context(aiohttp.ClientSession())
        sender = PlatformSender(
            session, config.gateway_url, config.access_key.get_secret_value(), retry_delays_s=config.retry_delays_s
        )
        send_started = time.monotonic()
        answers = await send_all(sender, deliveries, config.concurrency)
        send_elapsed = time.monotonic() - send_started
        accepted, foreign_ids = _accepted_calls(deliveries, answers)
        read_api = ReadApiClient(
            session, config.api_url, config.api_token.get_secret_value(), poll_interval_s=config.poll_interval_s
        )
        lifecycles = None
        if config.instances:
            lifecycles = await _play_lifecycles(config, session, read_api)
        settle_deadline = time.monotonic() + config.settle_timeout_s
        event_ids = {*accepted.keys(), *(lifecycles.event_ids if lifecycles else ())}
        statuses = await read_api.wait_settled(event_ids, config.settle_timeout_s, config.concurrency)
        acks = None
        if receiver is not None:
            acks = await _tally_acks(receiver, statuses, settle_deadline - time.monotonic())
        expected = expected_state(accepted.values())
        tenants = tenant_ids(config.seed, config.tenants, config.sizes)
        compared = await bounded_gather(
            (_compare(read_api, tenant, expected.get(tenant, TenantSnapshot())) for tenant in tenants),
            config.concurrency,
        )
        instances = None
        if lifecycles is not None:
            instances = await tally_instances(lifecycles, read_api, concurrency=config.concurrency)
    rejected = Counter(answer.result_code for answer in answers if answer.result_code != ACCEPTED)
    return SimulationReport(
        tenants=len(tenants),
        calls_sent=len(deliveries),
        resent=sum(delivery.resend for delivery in deliveries),
        accepted=len(answers) - rejected.total(),
        rejected=dict(rejected),
        retries=sum(answer.attempts - 1 for answer in answers),
        event_statuses=dict(Counter(s if s in FINAL_STATUSES else UNSETTLED for s in statuses.values())),
        mismatches=[mismatch for mismatch in compared if mismatch is not None],
        send_elapsed_s=send_elapsed,
        elapsed_s=time.monotonic() - started,
        notes=_notes(rejected, foreign_ids),
        acks=acks,
        instances=instances,
    )


async def _play_lifecycles(
    config: SimulationConfig, session: aiohttp.ClientSession, read_api: ReadApiClient
) -> InstanceRun:
    if config.instance_access_key is None:
        raise SimulationError("no instance access key (SYNCPIPE_INSTANCE_ACCESS_KEYS): cannot play the order lifecycle")
    sender = InstanceSender(
        session,
        config.gateway_url,
        config.instance_access_key.get_secret_value(),
        base_path=config.gateway_base_path,
        jitter_ms=config.instance_clock_jitter_ms,
        seed=config.seed,
        retry_delays_s=config.retry_delays_s,
    )
    player = LifecyclePlayer(
        sender,
        read_api,
        concurrency=config.concurrency,
        wait_s=config.settle_timeout_s,
        poll_interval_s=config.poll_interval_s,
        seed=config.seed,
        window=config.shuffle_window,
    )
    return await player.play(generate_lifecycles(config.seed, config.instances))


def _accepted_calls(deliveries: Sequence[Delivery], answers: Sequence[Answer]) -> tuple[dict[str, AnyCall], int]:
    """The accepted calls by the event id the gateway gave them, and how many ids differ from ours."""
    accepted: dict[str, AnyCall] = {}
    foreign_ids = 0
    for delivery, answer in zip(deliveries, answers, strict=True):
        if answer.result_code != ACCEPTED:
            continue
        call = parse_call(delivery.call.interface, delivery.call.body)
        ours = event_id(call)
        foreign_ids += answer.event_id is not None and answer.event_id != ours
        accepted[answer.event_id or ours] = call
    return accepted, foreign_ids


async def _tally_acks(receiver: AckReceiver, statuses: Mapping[str, str | None], timeout_s: float) -> AckTally:
    """Wait up to `timeout_s` for an ack of every accepted event, then count what is missing or wrong."""
    missing = await receiver.wait_for(statuses.keys(), max(timeout_s, 0.0))
    wrong = sum(
        1
        for event_id, status in statuses.items()
        if status in FINAL_STATUSES and event_id not in missing and receiver.first_status(event_id) != status
    )
    return AckTally(
        received=receiver.received,
        unacknowledged=len(missing),
        wrong_status=wrong,
        bad_signatures=receiver.bad_signatures,
    )


async def _compare(read_api: ReadApiClient, tenant_id: str, expected: TenantSnapshot) -> TenantMismatch | None:
    try:
        served = await read_api.tenant_snapshot(tenant_id)
    except ReadApiError as exc:
        return TenantMismatch(tenant_id, [f"could not read it: {exc}"])
    differences = snapshot_differences(expected, served)
    return TenantMismatch(tenant_id, differences) if differences else None


def _notes(rejected: Mapping[str, int], foreign_ids: int) -> list[str]:
    notes = []
    if rejected.get(NO_ANSWER):
        notes.append(
            f"{rejected[NO_ANSWER]} calls got no answer: the pipeline may hold some of them, the model holds none"
        )
    if foreign_ids:
        notes.append(f"{foreign_ids} accepted calls got an eventId other than schemas.event_id gives (SPEC §4)")
    return notes
