"""Everything the gateway refuses, under one root, each carrying the resultCode to answer (SPEC §3);
and what keeps it from starting (GatewayNotConfigured)."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ResultCode(StrEnum):
    ACCEPTED = "000000"
    SIGNATURE_REJECTED = "000001"
    INVALID_REQUEST = "000002"
    NO_SUCH_INSTANCE = "000003"  # queryInstance (SPEC §9): none of the asked instances exists
    BEING_PROVISIONED = "000004"  # newInstance / queryInstance (SPEC §9): not ready yet, poll queryInstance
    NOT_STORED = "000005"
    CLIENT_SECRET_UNDECRYPTABLE = "000101"


class GatewayError(Exception):
    """Root of the gateway's refusals.

    `message` is safe to send back and to log: it never holds a key, a signature or a secret.
    `retriable` says whether the sender may try the identical request again.
    """

    result_code: ClassVar[ResultCode] = ResultCode.NOT_STORED
    retriable: ClassVar[bool] = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SignatureRejected(GatewayError):
    """Signature headers missing or malformed, signature wrong, timestamp outside the window, nonce replayed."""

    result_code = ResultCode.SIGNATURE_REJECTED


class InvalidRequest(GatewayError):
    """The body breaks the contract; `field` names what is wrong (`body` for the body as a whole)."""

    result_code = ResultCode.INVALID_REQUEST

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason

    def __reduce__(self) -> tuple[type[InvalidRequest], tuple[str, str]]:
        """Pickled by its fields (it crosses from a parsing process, gateway.parsing)."""
        return type(self), (self.field, self.reason)


class BodyTooLarge(InvalidRequest):
    """The body exceeds the limit of its interface; refused without being read to the end."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__("body", f"body too large (limit {limit_bytes} bytes)")
        self.limit_bytes = limit_bytes

    def __reduce__(self) -> tuple[type[BodyTooLarge], tuple[int]]:  # type: ignore[override]
        return type(self), (self.limit_bytes,)


class NotStored(GatewayError):
    """The call could not be stored in time; nothing was accepted and the sender may safely try again."""

    result_code = ResultCode.NOT_STORED
    retriable = True


class NotAnswered(GatewayError):
    """A queryInstance the database did not answer in time (SPEC §9: 000005); the sender may try again."""

    result_code = ResultCode.NOT_STORED
    retriable = True


class ClientSecretUndecryptable(GatewayError):
    """An applicationSync whose `clientSecret` does not decrypt with the configured private key."""

    result_code = ResultCode.CLIENT_SECRET_UNDECRYPTABLE


class SenderGone(Exception):
    """The sender closed the connection before its body arrived: there is no one to answer.

    Not a GatewayError: it is no refusal and gets no resultCode; it is counted and logged on its own.
    """


class GatewayNotConfigured(ValueError):
    """The gateway cannot start: a setting is missing or unusable. The message names the variable,
    never its value (`syncpipe gateway` prints it as one line and exits 2)."""
