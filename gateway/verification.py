"""Who may send calls: the signature headers of SPEC §2, checked against every configured access key.

The checks run in a fixed order so each refusal names one problem, as early as each can be made:
headers present and well-formed and the timestamp inside the window (before a byte of the body is
read: `check_headers`), then the signature over the parsed body (`signing_key_index`, which needs no
state and may run in another process), then the nonce (`remember`). A nonce is recorded only once
the signature is known good, so nobody without a key can fill the cache or burn the platform's
nonces. Keys, signatures and secrets are never logged nor put in an answer.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from gateway.errors import InvalidRequest, SignatureRejected
from gateway.nonces import NonceCache
from runtime.settings import Settings
from schemas.canonical import canonical_json, matching_key
from schemas.timestamps import parse_unix_millis

_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
# The platform sends 32 characters; the bound keeps the nonce cache's memory predictable.
MAX_NONCE_LENGTH = 128


class SignatureHeaders(NamedTuple):
    """The three headers, well-formed, the timestamp inside the window when checked."""

    signature: str
    timestamp: str
    nonce: str


class VerifiedRequest(NamedTuple):
    nonce: str
    key_index: int  # position of the configured access key that signed it (never the key itself)


def signing_key_index(access_keys: Sequence[str], headers: SignatureHeaders, body: Mapping[str, Any]) -> int:
    """The position of the access key whose signature `headers` carry for `body`; SignatureRejected if
    none, InvalidRequest if the body is nested too deeply to be put in canonical form."""
    try:
        canonical = canonical_json(body)
    except RecursionError:  # decoded a few frames up the stack, so json.loads let it pass
        raise InvalidRequest("body", "not valid JSON (nested too deeply)") from None
    key_index = matching_key(access_keys, headers.nonce, headers.timestamp, canonical, headers.signature)
    if key_index is None:
        raise SignatureRejected("x-sign: signature does not match the body with any configured access key")
    return key_index


class SignatureVerifier:
    """Checks the `x-sign`, `x-timestamp` and `x-nonce` headers of a call against its parsed body.

    `clock` returns Unix seconds (time.time by default); tests pass a fixed one.
    """

    def __init__(
        self,
        access_keys: Sequence[str],
        window_s: float,
        nonces: NonceCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._access_keys = tuple(access_keys)
        self._window_s = window_s
        self._nonces = nonces if nonces is not None else NonceCache()
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, clock: Callable[[], float] = time.time) -> SignatureVerifier:
        nonces = NonceCache(max_entries=settings.gateway_nonce_capacity)
        return cls(settings.access_key_values(), settings.signature_window_s, nonces, clock=clock)

    @property
    def access_keys(self) -> tuple[str, ...]:
        return self._access_keys

    def verify(self, headers: Mapping[str, str], body: Mapping[str, Any]) -> VerifiedRequest:
        """All of SPEC §2 at once: `check_headers`, `signing_key_index`, `remember`.

        On success the nonce is recorded; call `release` if the call then ends 000005, so the
        platform may send the identical request again. May raise NotStored when the nonce cache is
        full of live entries.
        """
        checked = self.check_headers(headers)
        return self.remember(checked, signing_key_index(self._access_keys, checked, body))

    def check_headers(self, headers: Mapping[str, str]) -> SignatureHeaders:
        """The signature headers, well-formed, the timestamp inside the window; else SignatureRejected."""
        signature = _header(headers, "x-sign", _SIGNATURE.fullmatch, "64 hexadecimal characters")
        # Not canonical decimal is refused with the signature (SPEC §3: 000001), like a missing header.
        timestamp = _header(
            headers, "x-timestamp", _canonical_millis, "Unix time in milliseconds, in decimal without leading zeros"
        )
        nonce = _header(headers, "x-nonce", _valid_nonce, f"1 to {MAX_NONCE_LENGTH} printable characters")
        check_window(self._window_s, self._clock(), timestamp, name="x-timestamp")
        return SignatureHeaders(signature, timestamp, nonce)

    def remember(self, checked: SignatureHeaders, key_index: int) -> VerifiedRequest:
        """Record the nonce of a request whose signature `key_index` verified; SignatureRejected if it was
        already used (a replay), NotStored if the cache is full of live nonces."""
        remember_nonce(self._nonces, self._window_s, self._clock(), checked.timestamp, checked.nonce, name="x-nonce")
        return VerifiedRequest(checked.nonce, key_index)

    def release(self, verified: VerifiedRequest) -> None:
        self._nonces.release(verified.nonce)

    @property
    def nonces(self) -> NonceCache:
        """The nonces seen: the instance calls' verifier (SPEC §9) shares them, and the window."""
        return self._nonces

    @property
    def window_s(self) -> float:
        return self._window_s

    @property
    def clock(self) -> Callable[[], float]:
        return self._clock


def admit(
    nonces: NonceCache, window_s: float, now: float, timestamp: str, nonce: str, *, names: tuple[str, str]
) -> None:
    """The window and replay rules (SPEC §2, and §9 the same) at once: `check_window`, `remember_nonce`."""
    check_window(window_s, now, timestamp, name=names[0])
    remember_nonce(nonces, window_s, now, timestamp, nonce, name=names[1])


def check_window(window_s: float, now: float, timestamp: str, *, name: str) -> None:
    """SignatureRejected naming the parameter (`name`) unless `timestamp` (canonical Unix milliseconds)
    is inside the window around `now`."""
    signed_at = int(timestamp) / 1000
    if signed_at < now - window_s:
        raise SignatureRejected(f"{name}: expired (older than the {window_s:g} s window)")
    if signed_at > now + window_s:
        raise SignatureRejected(f"{name}: in the future (beyond the {window_s:g} s window)")


def remember_nonce(nonces: NonceCache, window_s: float, now: float, timestamp: str, nonce: str, *, name: str) -> None:
    """Record `nonce` of a verified call until its `timestamp` leaves the window; SignatureRejected naming
    the parameter (`name`) if it was already used (a replay), NotStored when the cache is full."""
    # Remembered until its timestamp leaves the window: from then on the window check refuses it.
    # That check still accepts signed_at + window itself, and the cache may forget a nonce from
    # `expires_at` on, so the nonce expires the instant after.
    expires_at = math.nextafter(int(timestamp) / 1000 + window_s, math.inf)
    if not nonces.remember(nonce, expires_at=expires_at, now=now):
        raise SignatureRejected(f"{name}: already used (replayed request)")


def _canonical_millis(value: str) -> bool:
    try:
        parse_unix_millis(value)
    except ValueError:
        return False
    return True


def _valid_nonce(value: str) -> bool:
    return 0 < len(value) <= MAX_NONCE_LENGTH and value.isprintable()


def _header(headers: Mapping[str, str], name: str, valid: Callable[[str], object], expected: str) -> str:
    value = headers.get(name)
    if value is None:
        raise SignatureRejected(f"{name}: header is missing")
    if not valid(value):
        raise SignatureRejected(f"{name}: malformed, expected {expected}")
    return value
