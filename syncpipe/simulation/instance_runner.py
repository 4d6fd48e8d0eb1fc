"""Playing the order lifecycle against a running pipeline (SPEC §9): the platform and the merchant's app.

1. Per instance, with bounded concurrency: the calls that arrive before its newInstance; a debug
   newInstance of another order line (000000, its instance id, and no instance ever); the newInstance
   (000004 and the instance id derived from the order line); a queryInstance before the instance is
   ready (000004); the merchant's application waiting until the read API shows the instance, then
   giving its appInfo; queryInstance polled until it answers 000000 with that appInfo; the newInstance
   sent again (000000, the same instance: never a second one).
2. Every other change of every instance, shuffled within a window, with debug copies and re-sends.
3. For released instances, a late freeze once the release is stored: they must stay released.
What is accepted becomes the model's input, with the time it was signed at (`instance_model`).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from schemas.instance_calls import derive_instance_id, parse_instance_change
from syncpipe.simulation.concurrency import bounded_gather
from syncpipe.simulation.instance_lifecycles import Body, Lifecycle
from syncpipe.simulation.instance_model import SignedCall
from syncpipe.simulation.instance_sender import InstanceAnswer, InstanceSender
from syncpipe.simulation.read_api import ReadApiClient

ACCEPTED = "000000"
NONE_EXISTS = "000003"
PROVISIONING = "000004"
# Statuses in which the merchant's application finds an instance it can open.
_OPENED = frozenset({"provisioning", "ready", "frozen"})


@dataclass
class InstanceRun:
    """What playing the lifecycles found, before the pipeline settled."""

    lifecycles: list[Lifecycle]
    accepted: list[SignedCall] = field(default_factory=list)  # the model's input
    event_ids: set[str] = field(default_factory=set)  # of every stored change, debug ones included
    answers: Counter[str] = field(default_factory=Counter)  # final resultCode of every call, queries too
    ready: set[str] = field(default_factory=set)  # instances the merchant gave its appInfo
    debug_instances: set[str] = field(default_factory=set)  # named by debug newInstances: must never exist
    figures: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)  # contract broken, in words
    requests: int = 0  # POSTs made, retries, polls and re-sends included


class LifecyclePlayer:
    def __init__(
        self,
        sender: InstanceSender,
        read_api: ReadApiClient,
        *,
        concurrency: int,
        wait_s: float,
        poll_interval_s: float,
        seed: int,
        window: int,
    ) -> None:
        self._sender = sender
        self._read_api = read_api
        self._concurrency = concurrency
        self._wait_s = wait_s
        self._poll_interval_s = poll_interval_s
        self._rng = random.Random(f"{seed}/instance-delivery")
        self._window = window

    async def play(self, lifecycles: Sequence[Lifecycle]) -> InstanceRun:
        run = InstanceRun(list(lifecycles))
        await bounded_gather((self._open(run, cycle) for cycle in lifecycles), self._concurrency)
        changes = [(cycle, body) for cycle in lifecycles for body in cycle.changes]
        keyed = sorted(((index + self._rng.uniform(0, self._window), item) for index, item in enumerate(changes)))
        await bounded_gather((self._change(run, cycle, body) for _, (cycle, body) in keyed), self._concurrency)
        released = [cycle for cycle in lifecycles if cycle.released and cycle.late_freeze]
        await bounded_gather((self._late_freeze(run, cycle) for cycle in released), self._concurrency)
        run.requests = self._sender.requests
        return run

    async def _send(self, run: InstanceRun, body: Body, instance_id: str) -> InstanceAnswer:
        answer = await self._sender.send(body, instance_id)
        run.answers[answer.result_code] += 1
        if answer.event_id is not None:
            run.event_ids.add(answer.event_id)
            run.accepted.append(SignedCall(parse_instance_change(body), answer.signed_at_ms))
        return answer

    async def _change(self, run: InstanceRun, cycle: Lifecycle, body: Body) -> InstanceAnswer:
        answer = await self._send(run, body, cycle.instance_id)
        if answer.result_code != ACCEPTED:
            run.problems.append(f"{cycle.instance_id}: {body['activity']} answered {answer.result_code}")
        return answer

    async def _open(self, run: InstanceRun, cycle: Lifecycle) -> None:
        instance = cycle.instance_id
        for body in cycle.early:
            await self._change(run, cycle, body)
        if cycle.debug_buy is not None:
            debug_id = derive_instance_id(cycle.debug_buy["orderId"], cycle.debug_buy["orderLineId"])
            run.debug_instances.add(debug_id)
            answer = await self._send(run, cycle.debug_buy, debug_id)
            self._check(run, answer.result_code == ACCEPTED and answer.instance_id == debug_id, "debug newInstance")
        bought = await self._send(run, cycle.buy(), instance)
        # 000000 only if something made it ready at once (a ready template on the pipeline).
        expected = bought.result_code in (PROVISIONING, ACCEPTED) and bought.instance_id == instance
        self._check(
            run, expected, "newInstance answered with its instance", f"{bought.result_code} {bought.instance_id}"
        )
        early = await self._send(run, _query(instance), instance)
        run.figures[f"queryInstance before ready: {early.result_code}"] += 1
        self._check(run, early.result_code in (PROVISIONING, ACCEPTED), "queryInstance before ready", early.result_code)
        if not await self._provision(run, cycle):
            return
        if not await self._poll_until_ready(run, cycle):
            return
        again = await self._send(run, cycle.buy(), instance)
        self._check(
            run, (again.result_code, again.instance_id) == (ACCEPTED, instance), "newInstance re-sent", str(again)
        )

    async def _provision(self, run: InstanceRun, cycle: Lifecycle) -> bool:
        """The merchant's application: once the read API shows the instance opened, give its appInfo."""
        deadline = asyncio.get_running_loop().time() + self._wait_s
        while True:
            shown = await self._read_api.instance(cycle.instance_id)
            if shown is not None and shown.get("status") in _OPENED:
                break
            if asyncio.get_running_loop().time() > deadline:
                run.problems.append(f"{cycle.instance_id}: never shown opened by the read API ({shown!r:.80})")
                return False
            await asyncio.sleep(self._poll_interval_s)
        status, answer = await self._read_api.put_app_info(cycle.instance_id, cycle.app_info())
        if status != 200:
            run.problems.append(f"{cycle.instance_id}: the appInfo was refused: {status} {answer}")
            return False
        run.ready.add(cycle.instance_id)
        return True

    async def _poll_until_ready(self, run: InstanceRun, cycle: Lifecycle) -> bool:
        """The platform: queryInstance until it answers the merchant's appInfo."""
        deadline = asyncio.get_running_loop().time() + self._wait_s
        while True:
            answer = await self._send(run, _query(cycle.instance_id), cycle.instance_id)
            if answer.result_code == ACCEPTED and answer.info:
                served = {entry.get("instanceId"): entry.get("appInfo") for entry in answer.info}
                ok = served == {cycle.instance_id: cycle.app_info()}
                self._check(run, ok, "queryInstance answers the merchant's appInfo", str(served)[:120])
                return ok
            if answer.result_code != PROVISIONING or asyncio.get_running_loop().time() > deadline:
                run.problems.append(f"{cycle.instance_id}: queryInstance never ready ({answer.result_code})")
                return False
            await asyncio.sleep(self._poll_interval_s)

    async def _late_freeze(self, run: InstanceRun, cycle: Lifecycle) -> None:
        run.figures["late freezes of released instances"] += 1
        await self._change(run, cycle, cycle.late_freeze_call())

    @staticmethod
    def _check(run: InstanceRun, ok: bool, what: str, detail: str = "") -> None:
        run.figures[f"{what}: {'ok' if ok else 'wrong'}"] += 1
        if not ok:
            run.problems.append(f"{what}: {detail}")


def _query(instance_id: str) -> Body:
    return {"activity": "queryInstance", "instanceId": instance_id}
