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

A line is one line whatever it quotes: values come from senders (an interface name from the URL, a
tenant id, an exception's message), so every field of every format is escaped. JSON escapes control
characters and, here, the Unicode line breaks a reader's `splitlines` also splits on (U+0085, U+2028,
U+2029); text shows them as `\\n`, `\\x85`, …, quotes a field value that holds a space, a quote, `=` or
`]`, and indents the lines of a traceback, so that no line a sender wrote can pass for one of ours.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Callable, Iterable
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
# What may break a line or a terminal when printed: C0 and C1 controls, DEL, and the Unicode line and
# paragraph separators (Python's splitlines splits on all of them but the ones JSON already escapes).
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Of those, what json.dumps leaves as is (it escapes the C0 controls only).
_UNESCAPED_BY_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029]")
# A text field value is written bare only when it cannot be mistaken for the end of the field list.
_BARE_VALUE = re.compile(r"[^\s\"'=\]\\]+")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped_character(match: re.Match[str]) -> str:
    character = match[0]
    short = _SHORT_ESCAPES.get(character)
    if short is not None:
        return short
    code = ord(character)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match[0]):04x}"


def _escape_text(text: str) -> str:
    """`text` on one line, every control character and line break written as an escape (`\\n`, `\\x1b`)."""
    return _UNPRINTABLE.sub(_escaped_character, text)


def _text_field_value(value: object) -> str:
    text = str(value)
    if _BARE_VALUE.fullmatch(text):
        return _escape_text(text)
    return _escape_text(json.dumps(text, ensure_ascii=False))


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
        # The C encoder json.dumps builds anew for every call, built once (a third of a line's cost);
        # no check for circular references: a log line's fields hold none (one would end the line
        # in RecursionError instead of ValueError, reported by the handler either way).
        make_encoder = getattr(json.encoder, "c_make_encoder", None)
        self._encode: Callable[[dict[str, Any]], str]
        if make_encoder is None:  # an interpreter without the C accelerator
            self._encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
        else:
            chunks = make_encoder(None, str, json.encoder.encode_basestring, None, ": ", ", ", False, False, True)
            self._encode = lambda line: "".join(chunks(line, 0))
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
        text = self._encode(line)
        if text.isascii() and "\x7f" not in text:  # nearly every line: nothing json.dumps left unescaped
            return text
        return _UNESCAPED_BY_JSON.sub(_json_escape, text)

    def _time(self, created: float) -> str:
        """ISO 8601 UTC with milliseconds; the part up to the second is made once a second."""
        second = int(created)
        if second != self._second:
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._second_text}.{int((created - second) * 1000):03d}+00:00"


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [eventId=… tenantId=… interface=…]` for people at a terminal.

    The first line is the whole record but its traceback, escaped; the traceback follows, each of its
    lines escaped and indented, so every line that starts in the first column starts a record.
    """

    _TRACEBACK_INDENT = "    "

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        text = _escape_text(f"{self.formatTime(record)} {record.levelname:<7} {record.name}: {record.message}")
        fields = [
            f"{name}={_text_field_value(getattr(record, name))}" for name in EVENT_FIELDS if hasattr(record, name)
        ]
        if fields:
            text += f" [{' '.join(fields)}]"
        details = []
        if record.exc_info:
            details.append(self.formatException(record.exc_info))
        if record.stack_info:
            details.append(self.formatStack(record.stack_info))
        for detail in details:
            text += "".join(f"\n{self._TRACEBACK_INDENT}{_escape_text(line)}" for line in detail.splitlines())
        return text


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
