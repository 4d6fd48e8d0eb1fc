"""Who may send instance calls (SPEC §9): the query's `signature`, `timestamp` and `nonce`, checked
against the instance calls' own access keys.

The checks run in a fixed order, each refusal naming one problem: `timestamp` present and a number
in canonical decimal (no leading zero) and `nonce` present and well-formed (else 000002), `signature`
present and well-formed, then the signature, the window and the nonce (else 000001). The window and
the nonce cache are the sync calls' own (gateway.verification): one memory of nonces per gateway,
whichever scheme signed them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence

from gateway.errors import InvalidRequest, SignatureRejected
from gateway.nonces import NonceCache
from gateway.verification import MAX_NONCE_LENGTH, SignatureVerifier, VerifiedRequest, admit
from schemas.instance_signature import instance_canonical, matching_instance_key
from schemas.timestamps import parse_unix_millis

_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


class InstanceSignatureVerifier:
    """`clock` returns Unix seconds (time.time by default); tests pass a fixed one."""

    def __init__(
        self,
        access_keys: Sequence[str],
        window_s: float,
        nonces: NonceCache,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._access_keys = tuple(access_keys)
        self._window_s = window_s
        self._nonces = nonces
        self._clock = clock

    @classmethod
    def beside(cls, verifier: SignatureVerifier, access_keys: Sequence[str]) -> InstanceSignatureVerifier:
        """With the sync calls' verifier's window, nonce cache and clock."""
        return cls(access_keys, verifier.window_s, verifier.nonces, verifier.clock)

    def verify(self, query: Mapping[str, str], body: Mapping[str, str]) -> VerifiedRequest:
        """Accept the call or raise InvalidRequest / SignatureRejected naming the problem; the nonce is
        then recorded (`release` it if the call ends 000005). May raise NotStored (nonce cache full)."""
        timestamp = query.get("timestamp")
        if not timestamp:
            raise InvalidRequest("timestamp", "query parameter is missing")
        try:
            # Canonical decimal only: nonce and timestamp are signed run together, so a leading "0"
            # would let a captured call whose nonce ends in "0" pass again with that "0" moved over.
            parse_unix_millis(timestamp)
        except ValueError:
            raise InvalidRequest(
                "timestamp", "not a number: expected Unix time in milliseconds, in decimal without leading zeros"
            ) from None
        nonce = query.get("nonce")
        if not nonce:
            raise InvalidRequest("nonce", "query parameter is missing")
        if len(nonce) > MAX_NONCE_LENGTH or not nonce.isprintable():
            raise InvalidRequest("nonce", f"malformed: expected 1 to {MAX_NONCE_LENGTH} printable characters")
        signature = query.get("signature")
        if not signature:
            raise SignatureRejected("signature: query parameter is missing")
        if not _SIGNATURE.fullmatch(signature):
            raise SignatureRejected("signature: malformed, expected 64 hexadecimal characters")
        key_index = matching_instance_key(self._access_keys, nonce, timestamp, instance_canonical(body), signature)
        if key_index is None:
            raise SignatureRejected("signature: does not match the body with any configured instance access key")
        admit(self._nonces, self._window_s, self._clock(), timestamp, nonce, names=("timestamp", "nonce"))
        return VerifiedRequest(nonce, key_index)

    def release(self, verified: VerifiedRequest) -> None:
        self._nonces.release(verified.nonce)
