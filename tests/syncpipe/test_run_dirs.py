"""Temp folders of embedded services: a run's folder is marked with its process, and removed at a later
start once that process is gone; no other folder is touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from syncpipe.embedded.run_dirs import PID_FILE, remove_dead_run_dirs


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_only_folders_of_processes_that_are_gone_are_removed(tmp_path: Path) -> None:
    dead, alive, unmarked, garbled = (tmp_path / f"syncpipe-pg-{name}" for name in ("dead", "alive", "none", "x"))
    other = tmp_path / "someone-else-dead"
    for folder in (dead, alive, unmarked, garbled, other):
        (folder / "data").mkdir(parents=True)
    (dead / PID_FILE).write_text(f"{_dead_pid()}\n")
    (other / PID_FILE).write_text(f"{_dead_pid()}\n")
    (alive / PID_FILE).write_text(f"{os.getpid()}\n")
    (garbled / PID_FILE).write_text("not a pid\n")

    assert remove_dead_run_dirs(temp_dir=tmp_path) == [dead]
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        path.name for path in (alive, unmarked, garbled, other)
    )
