"""Where an embedded service keeps its files: a folder of the run in the temp directory, removed when
the run stops, or at the next start if the run died without stopping (killed, or the machine went
down); or a data directory the user chose, kept.

A run's temp folder holds PID_FILE, the process id of the syncpipe process that made it: a folder
whose process is gone is left over. Folders without one (made by an older syncpipe, or by hand)
are never touched, nor is one whose process id is alive, whoever it now belongs to.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

PID_FILE = "syncpipe-owner.pid"
# The prefixes of the temp folders embedded services make (syncpipe.embedded.postgres, .kafka, .apache_kafka).
RUN_DIR_PREFIXES = ("syncpipe-pg-", "syncpipe-kafka-", "syncpipe-apache-kafka-")


def make_run_dir(prefix: str) -> Path:
    """A new folder in the temp directory, marked as this process's."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    (folder / PID_FILE).write_text(f"{os.getpid()}\n")
    return folder


def remove_dead_run_dirs(prefixes: Iterable[str] = RUN_DIR_PREFIXES, temp_dir: Path | None = None) -> list[Path]:
    """Remove the run folders in `temp_dir` (the temp directory) whose process is gone; the ones removed."""
    removed = []
    root = temp_dir if temp_dir is not None else Path(tempfile.gettempdir())
    for prefix in prefixes:
        for folder in root.glob(f"{prefix}*"):
            owner = _owner(folder)
            if owner is not None and not is_running(owner):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def _owner(folder: Path) -> int | None:
    try:
        text = (folder / PID_FILE).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isascii() and text.isdigit() else None


def is_running(pid: int) -> bool:
    """Whether process `pid` exists and has not ended (a zombie, dead but not yet reaped, has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    with contextlib.suppress(OSError):
        # A zombie (dead, not yet reaped by its parent) answers signal 0 too.
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    return True
