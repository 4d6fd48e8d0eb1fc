"""The CPU-bound part of a call, from its body's bytes to the Kafka records that store it.

Decoding a body, putting it in canonical form, checking its signature, validating its fields and
encoding its event take time in proportion to its size: seconds for a 32 MiB full sync. This is all
of it, with no state but the keys, so that it can run in another process (gateway.parsing) and the
event loop stays free for every other call. The nonce check, which needs the gateway's memory of
nonces, stays with the caller: `prepare_call` answers in an order that lets it come between the
signature and the fields, as SPEC §2-3 and gateway.app check them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from gateway.client_secret import ClientSecretChecker
from gateway.errors import GatewayError, InvalidRequest
from gateway.request_body import decode_json_object
from gateway.verification import SignatureHeaders, signing_key_index
from schemas.calls import Interface, parse_call
from schemas.envelope import KafkaRecord, encode_call
from schemas.exceptions import InvalidCall


class EncodedEvent(NamedTuple):
    """An accepted call as the records that store it."""

    event_id: str
    tenant_id: str
    records: list[KafkaRecord]


class PreparedCall(NamedTuple):
    """What `prepare_call` found. `key_index` is None when the body or its signature was refused
    (`refusal`: 000002 or 000001); otherwise the signature is good, and either the call's content is
    refused (`refusal`: 000002, 000101), to be answered once its nonce is checked, or `event` stores it."""

    key_index: int | None
    refusal: GatewayError | None
    event: EncodedEvent | None


class Preparation(NamedTuple):
    """What `prepare_call` needs besides the call: the configured keys and limits."""

    access_keys: tuple[str, ...]
    secret_checker: ClientSecretChecker
    max_record_bytes: int


def prepare_call(preparation: Preparation, interface: Interface, raw: bytes, headers: SignatureHeaders) -> PreparedCall:
    """Decode `raw`, check its signature against `headers` (already well-formed and in the window),
    validate the call and encode its event. Refusals are returned, not raised: they cross processes."""
    try:
        body = decode_json_object(raw)
        key_index = signing_key_index(preparation.access_keys, headers, body)
    except GatewayError as refusal:
        return PreparedCall(None, refusal, None)
    try:
        try:
            call = parse_call(interface, body)
        except InvalidCall as exc:
            raise InvalidRequest(exc.field, exc.reason) from None
        preparation.secret_checker.check(call)
    except GatewayError as refusal:
        return PreparedCall(key_index, refusal, None)
    event_id, records = encode_call(call, datetime.now(UTC), preparation.max_record_bytes)
    return PreparedCall(key_index, None, EncodedEvent(event_id, call.tenantId, records))
