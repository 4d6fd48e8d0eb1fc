"""One root for everything the wire contract can refuse."""


class SchemaError(Exception):
    """Root of the errors raised by `schemas`."""


class InvalidCall(SchemaError):
    """A sync call body that breaks the contract of SPEC §1; `field` names the offending field."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class MalformedEnvelope(SchemaError):
    """A Kafka record that is not a readable syncpipe event (never produced by our gateway)."""


class UnknownEnvelopeVersion(MalformedEnvelope):
    """A record written by a newer (or unknown) envelope format than this process understands."""

    def __init__(self, version: str) -> None:
        super().__init__(f"unknown envelope version {version!r}")
        self.version = version
