"""Child processes that die with us, on a free loopback port, waited for until they answer."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from runtime.processes import die_with_parent


class EmbeddedServiceError(RuntimeError):
    """An embedded service could not be found, started or reached."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _die_with_parent() -> None:
    """The kernel SIGKILLs the child when we die, so a killed test run leaks no broker."""
    die_with_parent()


def spawn(
    args: Sequence[str], log_path: Path, user: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `args` with output to `log_path`, in its own process group (Ctrl-C reaches only us).

    `env` replaces the environment (syncpipe's own commands take their configuration from it); None
    inherits ours."""
    log = log_path.open("ab")
    try:
        return subprocess.Popen(
            list(args),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            user=user,
            env=None if env is None else dict(env),
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only sets PDEATHSIG, no locks involved
        )
    finally:
        log.close()


def wait_until(
    check: Callable[[], bool], process: subprocess.Popen[bytes], what: str, log_path: Path, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if process.poll() is not None:
            raise EmbeddedServiceError(f"{what} exited with {process.returncode}: {tail(log_path)}")
        if time.monotonic() > deadline:
            raise EmbeddedServiceError(f"{what} did not answer within {timeout_s:.0f} s: {tail(log_path)}")
        time.sleep(0.02)


def stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    # A paused (SIGSTOPped) service cannot act on a signal until it is continued.
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGCONT)
        process.send_signal(sig)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def tail(log_path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
