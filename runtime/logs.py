"""How every syncpipe process logs: one JSON object per line (or human text), secrets masked.

A line about an event carries its `eventId`, `tenantId` (`instanceId` for an instance call) and
`interface` as fields of their own (`log.info("...", extra=event_fields(...))`), so one event can be
followed through the gateway, the worker and the acker by grepping one id. Levels mean something:
 - DEBUG: per-event detail (each finished event, each ack attempt);
 - INFO: what a healthy pipeline does (calls accepted or refused for their content, lifecycle);
 - WARNING: something an operator may have to look at if it persists (a dependency unreachable,
   a call not stored, retries);
 - ERROR: something lost its normal path (a dead letter, an unexpected exception).

`--log-level DEBUG` adds syncpipe's per-event lines, not the wire dumps of the Kafka client (they
hold whole calls). Secrets never reach a log call on purpose; as a second line of defence, the
values registered with `mask_secrets` (access keys, API token, database password) are replaced by
`***` in every line.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

# Attributes every LogRecord has; anything else on a record came through `extra=`.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys() | {"message", "asctime", "taskName"}
)
# The fields that identify an event, in the order text lines show them.
EVENT_FIELDS = ("eventId", "tenantId", "interface", "instanceId")
# Libraries whose DEBUG lines dump wire traffic: aiokafka prints every produce and fetch request with
# its records, i.e. whole calls, client secrets included. They log at INFO at most, whatever the level.
_WIRE_DUMPING_LOGGERS = ("aiokafka",)
# Values shorter than this are not masked: they would mask ordinary words (and are no real secret).
_MIN_SECRET_LENGTH = 6
MASK = "***"


def event_fields(
    event_id: str | None = None,
    tenant_id: str | None = None,
    interface: str | None = None,
    instance_id: str | None = None,
) -> dict[str, str]:
    """The `extra=` of a log line about one event (fields that are unknown or empty are left out: an
    instance call has no tenant, many sync calls no instance)."""
    fields = {"eventId": event_id, "tenantId": tenant_id, "interface": interface, "instanceId": instance_id}
    return {name: value for name, value in fields.items() if value}


class SecretMask(logging.Filter):
    """Replaces registered secret values in the formatted line (set on the handler, so it sees the
    final text: message, arguments, extra fields and tracebacks alike)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        with self._lock:
            self._secrets = self._secrets | {value for value in values if len(value) >= _MIN_SECRET_LENGTH}

    def mask(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text


class _MaskingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, stream: TextIO, secret_mask: SecretMask) -> None:
        super().__init__(stream)
        self._secret_mask = secret_mask

    def format(self, record: logging.LogRecord) -> str:
        return self._secret_mask.mask(super().format(record))


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", <extra fields>, "exception"?}` on one line.

    Cheap enough for a line per call: the gateway writes one for every call it answers.
    """

    def __init__(self) -> None:
        super().__init__()
        self._encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
        self._second = -1
        self._second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        attributes = vars(record)
        # Extra fields in their `extra=` order (set operations are C; the loop only sees the few extras).
        extra = attributes.keys() - _STANDARD_ATTRIBUTES
        if extra:
            for name in attributes:
                if name in extra and not name.startswith("_"):
                    line[name] = attributes[name]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return self._encode(line)

    def _time(self, created: float) -> str:
        """ISO 8601 UTC with milliseconds; the part up to the second is made once a second."""
        second = int(created)
        if second != self._second:
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._second_text}.{int((created - second) * 1000):03d}+00:00"


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [eventId=… tenantId=… interface=…]` for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = [f"{name}={getattr(record, name)!s}" for name in EVENT_FIELDS if hasattr(record, name)]
        if not fields:
            return text
        first, newline, rest = text.partition("\n")
        return f"{first} [{' '.join(fields)}]{newline}{rest}"


_secret_mask = SecretMask()


def configure_logging(
    level: str | int = logging.INFO,
    *,
    json: bool = True,
    stream: TextIO | None = None,
    handler: logging.Handler | None = None,
) -> None:
    """Route every logger of the process to one handler (by default on `stream`, stderr), replacing
    earlier handlers."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler if handler is not None else log_handler(json=json, stream=stream))
    root.setLevel(level)
    # No line shows where it was logged from, nor threads and processes: skip finding them out, a
    # third of the cost of a line (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    for name in _WIRE_DUMPING_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))


def log_handler(*, json: bool = True, stream: TextIO | None = None) -> logging.Handler:
    """The handler `configure_logging` installs: masking, JSON lines or text."""
    handler = _MaskingHandler(stream if stream is not None else sys.stderr, _secret_mask)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    return handler


def mask_secrets(*values: str) -> None:
    """Never show these values in a log line again (in this process), whatever logs them."""
    _secret_mask.add(values)
