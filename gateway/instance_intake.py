"""The instance calls' route (SPEC §9): `POST {base}` with the activity in the body.

A call goes through these steps, in this order, and the first refusal answers it: body within its
size limit, read as it arrives into the gateway's in-flight budget (held to its client's share of
unverified bytes, as a sync call is) → body a map of top-level values (schemas.instance_body) →
query parameters, signature, window, nonce → the activity and its fields → then
 - a change (newInstance, refreshInstance, updateInstanceStatus, upgradeInstance, releaseInstance) is
   stored in Kafka like a sync call (acks=all, keyed by its instance) and answered 000000 with its
   eventId; a newInstance also names its instance, and says 000004 (being provisioned, poll
   queryInstance) unless a bounded read finds the instance ready already; a debug newInstance
   (testFlag "1") says 000000 and changes nothing;
 - a queryInstance is answered from Postgres (gateway.instance_directory): 000000 with `info` for
   each asked instance that is ready, 000004 while none is but one is coming, 000003 when none exists.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.answers import answer
from gateway.errors import GatewayError, InvalidRequest, NotAnswered, ResultCode, SenderGone
from gateway.instance_directory import InstanceDirectory, InstanceEntry
from gateway.instance_verification import InstanceSignatureVerifier
from gateway.intake import Intake
from gateway.nonces import released_unless_stored
from runtime.logs import event_fields
from schemas.exceptions import InvalidCall
from schemas.instance_body import read_instance_body
from schemas.instance_calls import NewInstance, QueryInstance, instance_of, issued_here, parse_instance_call
from schemas.instance_envelope import InstanceEnvelope, encode_instance_event

log = logging.getLogger(__name__)

# Every field of an instance call is at most 64 characters: the platform's largest bodies are a few
# KB (unknown fields included). The bound keeps any call one Kafka record, whatever the sync limits.
MAX_INSTANCE_BODY_BYTES = 64 * 1024
# Instances whose appInfo the platform may take as final: a re-sent newInstance finds them ready.
_READY = frozenset({"ready", "frozen"})
_ANSWERED = _READY | {"released"}


class InstanceIntake:
    """The instance route's handler, holding what it was given."""

    def __init__(
        self,
        intake: Intake,
        verifier: InstanceSignatureVerifier,
        directory: InstanceDirectory | None,
        *,
        max_body_bytes: int,
    ) -> None:
        self._intake = intake
        self._metrics = intake.metrics
        self._verifier = verifier
        self._directory = directory
        self._limit = min(max_body_bytes, MAX_INSTANCE_BODY_BYTES)

    async def accept_call(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        seen: dict[str, str] = {"activity": "unknown"}
        try:
            code, response = await self._answer(request, seen)
        except SenderGone:
            # Nobody to answer, nothing stored: neither a refusal nor our failure (calls_abandoned_total).
            log.info(
                "an instance call from %s: the sender left before its body arrived",
                request.remote,
                extra=event_fields(interface=seen["activity"]),
            )
            self._metrics.observe_abandoned(seen["activity"])
            return answer(ResultCode.INVALID_REQUEST, "body: the connection closed before it arrived")
        except GatewayError as error:
            code, response = error.result_code, answer(error.result_code, error.message)
            log.log(
                logging.WARNING if error.retriable else logging.INFO,
                "refused %r from %s: %s %s",
                seen["activity"],
                request.remote,
                code.value,
                error.message,
                extra=event_fields(interface=seen["activity"], instance_id=seen.get("instance")),
            )
        except Exception:
            # The traceback goes to the log only; it holds no request headers or body values.
            log.exception("unexpected error handling an instance call; answering 000005")
            code = ResultCode.NOT_STORED
            response = answer(code, "internal error: nothing was stored; try again")
        self._metrics.observe_call(seen["activity"], code, time.perf_counter() - started)
        return response

    async def _answer(self, request: web.Request, seen: dict[str, str]) -> tuple[ResultCode, web.Response]:
        # Its bytes are taken as they arrive and count in its client's unverified share until the
        # signature is verified, exactly as a sync call's, in the one budget of both routes (gateway.intake).
        async with self._intake.body(request, self._limit) as held:
            try:
                body = read_instance_body(held.raw)
            except InvalidCall as exc:
                raise InvalidRequest(exc.field, exc.reason) from None
            seen["activity"] = body.get("activity", "unknown")[:32]
            verified = self._verifier.verify(request.query, body)
            held.signature_verified()
            held.nonce_checked()
            with released_unless_stored(lambda: self._verifier.release(verified)):
                try:
                    call = parse_instance_call(body)
                except InvalidCall as exc:
                    raise InvalidRequest(exc.field, exc.reason) from None
                if isinstance(call, QueryInstance):
                    return await self._query(call)
                seen["instance"] = instance_of(call)
                envelope = InstanceEnvelope.from_call(call, int(request.query["timestamp"]), datetime.now(UTC))
                await self._intake.publish([encode_instance_event(envelope)])
        log.info(
            "accepted %s event %s for instance %r",
            envelope.activity.value,
            envelope.eventId,
            envelope.instanceId,
            extra=event_fields(envelope.eventId, interface=envelope.activity.value, instance_id=envelope.instanceId),
        )
        if isinstance(call, NewInstance):
            return await self._opened(call, envelope)
        return ResultCode.ACCEPTED, answer(ResultCode.ACCEPTED, "accepted: stored durably", envelope.eventId)

    async def _opened(self, call: NewInstance, envelope: InstanceEnvelope) -> tuple[ResultCode, web.Response]:
        """A stored newInstance: 000000 if its instance is ready (or a debug call), else 000004."""
        named = {"instanceId": envelope.instanceId}
        if call.debug:
            return ResultCode.ACCEPTED, answer(
                ResultCode.ACCEPTED, "debug call: stored, nothing changed", envelope.eventId, **named
            )
        entry = await self._ready_or_not(envelope.instanceId)
        if entry is not None and entry.status in _ANSWERED:
            return ResultCode.ACCEPTED, answer(
                ResultCode.ACCEPTED, f"instance {entry.status}", envelope.eventId, **named
            )
        code = ResultCode.BEING_PROVISIONED
        return code, answer(
            code, "stored; the instance is being provisioned: poll queryInstance", envelope.eventId, **named
        )

    async def _ready_or_not(self, instance_id: str) -> InstanceEntry | None:
        """The instance's entry, or None if it has none yet or the database cannot say in time (the
        call is stored either way: "being provisioned" is true until a read says otherwise)."""
        if self._directory is None:
            return None
        try:
            return (await self._directory.lookup([instance_id])).get(instance_id)
        except Exception:
            # The call is stored: whatever the read did, the answer stays "being provisioned".
            log.warning("could not tell whether instance %s is ready; answering 000004", instance_id, exc_info=True)
            return None

    async def _query(self, call: QueryInstance) -> tuple[ResultCode, web.Response]:
        if self._directory is None:
            raise NotAnswered("instance lookups need the database (DATABASE_URL is not set for this gateway)")
        ids = call.ids
        entries = await self._directory.lookup(ids)
        info: list[dict[str, Any]] = []
        coming = False
        for instance_id in ids:
            entry = entries.get(instance_id)
            if entry is not None and entry.status in _READY and entry.app_info is not None:
                info.append({"instanceId": instance_id, "appInfo": entry.app_info.model_dump()})
            elif entry is not None and entry.status == "provisioning":
                coming = True
            elif (entry is None or entry.status == "waiting") and issued_here(instance_id):
                coming = True  # its newInstance is stored, on its way to Postgres
        if info:
            return ResultCode.ACCEPTED, answer(ResultCode.ACCEPTED, f"{len(info)} of {len(ids)} ready", info=info)
        if coming:
            code = ResultCode.BEING_PROVISIONED
            return code, answer(code, "being provisioned: ask again later")
        return ResultCode.NO_SUCH_INSTANCE, answer(ResultCode.NO_SUCH_INSTANCE, "no such instance (or released)")
