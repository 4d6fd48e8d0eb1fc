"""`syncpipe up --demo` as a person sees it in a terminal: a calm screen, not the log stream.

The run happens in a pseudo-terminal and its output is rendered by a terminal emulator (pyte), so
the lines counted are the lines a person scrolls through, redraws of the status area included once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pyte
import pytest

from syncpipe.embedded.process import free_port
from tests.conftest import WHOLE_MACHINE

pytestmark = [pytest.mark.integration, WHOLE_MACHINE]

COLUMNS, ROWS = 140, 50
# A first run prints where things are, the status area and the summary: ~25 lines; ~60 is the promise.
MOST_LINES = 60


def test_up_in_a_terminal_is_a_calm_screen_that_ends_with_the_summary(tmp_path: Path) -> None:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SYNCPIPE_") and name not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
    }
    environment |= {
        "TERM": "xterm-256color",
        "SYNCPIPE_GATEWAY_PORT": str(free_port()),
        "SYNCPIPE_API_PORT": str(free_port()),
        "SYNCPIPE_WORKER_OPS_PORT": str(free_port()),
    }
    arguments = ["-m", "syncpipe", "up", "--demo", "--demo-tenants", "8", "--exit-after-demo"]
    child = pexpect.spawn(
        sys.executable, arguments, cwd=str(tmp_path), env=environment, dimensions=(ROWS, COLUMNS), timeout=300
    )
    raw = b""
    while True:
        try:
            raw += child.read_nonblocking(65536, timeout=300)
        except pexpect.EOF:
            break
    child.close()
    assert child.exitstatus == 0, raw.decode(errors="replace")[-3000:]

    screen = pyte.HistoryScreen(COLUMNS, ROWS, history=10_000)
    pyte.ByteStream(screen).feed(raw)  # the pty already turned each \n into \r\n
    scrolled = ["".join(line[column].data for column in sorted(line)).rstrip() for line in screen.history.top]
    lines = [line for line in [*scrolled, *(line.rstrip() for line in screen.display)] if line]
    assert len(lines) <= MOST_LINES, "\n".join(lines)
    assert "syncpipe is ready (Ctrl-C stops everything)" in lines
    assert lines[-1] == "stopping..."
    summary = lines[lines.index("simulation OK") :]
    assert any(line.strip().startswith("tenants converged 8/8") for line in summary)
    assert any(line.startswith("events ") for line in lines), "the status area shows the events"
    assert b"\x1b[" in raw, "a terminal gets the status area redrawn in place"
    logs = tmp_path / ".syncpipe" / "logs"
    assert "accepted" in (logs / "gateway.log").read_text()
