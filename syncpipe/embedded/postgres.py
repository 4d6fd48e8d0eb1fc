"""A Postgres cluster on a free loopback port: throwaway, in a folder of the run in the temp directory
(syncpipe.embedded.run_dirs), or kept in a data directory.

Binaries come from `SYNCPIPE_PG_BINDIR`, else the PATH or /usr/lib/postgresql, else the ones the
`pgserver` wheel bundles. `initdb` refuses to run as root, so as root the cluster is owned by and
run as the `postgres` user; as anyone else it runs as that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from syncpipe.embedded.process import EmbeddedServiceError, free_port, spawn, stop, tail, wait_until
from syncpipe.embedded.run_dirs import is_running, make_run_dir

# initdb plus first start take ~1 s here; a cold laptop disk can take much longer.
_START_TIMEOUT_S = 60.0
_READY_LINE = "database system is ready to accept connections"
RUN_DIR_PREFIX = "syncpipe-pg-"
# A server killed with its run ends within milliseconds; its backends follow within a second or two.
_DEAD_SERVER_WAIT_S = 5.0
_KEPT_LAUNCH_TRIES = 5
USER = "syncpipe"
DATABASE = "postgres"


def postgres_bindir() -> Path:
    candidates: list[str] = []
    if override := os.environ.get("SYNCPIPE_PG_BINDIR"):
        candidates.append(override)
    if on_path := shutil.which("initdb"):
        candidates.append(str(Path(on_path).parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in [*candidates, _pgserver_bindir()]:
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    raise EmbeddedServiceError(
        "no PostgreSQL server binaries found: install PostgreSQL, `pip install pgserver`, "
        "set SYNCPIPE_PG_BINDIR, or point DATABASE_URL at a server"
    )


def _pgserver_bindir() -> str | None:
    """Imported only as a last resort: importing pgserver touches the user's runtime dirs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver
    except ImportError:
        return None
    return str(Path(pgserver.__file__).parent / "pginstall" / "bin")


class EmbeddedPostgres:
    """`with EmbeddedPostgres() as pg: pg.dsn` — a fresh cluster, deleted on stop; with `data_dir`, the
    cluster kept there (made at its first start), and found again at the next."""

    def __init__(self, port: int | None = None, durable: bool = True, data_dir: Path | None = None) -> None:
        self.port = port or free_port()
        self._durable = durable
        self._bindir = postgres_bindir()
        self.throwaway = data_dir is None
        if data_dir is None:
            self._root = make_run_dir(RUN_DIR_PREFIX)
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._root = data_dir
        self._data = self._root / "data"
        self.log_path = self._root / "postgres.log"
        self._user: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        if os.geteuid() == 0:
            self._run_as_postgres_user()
        if not (self._data / "PG_VERSION").exists():
            self._initdb()
        if self.throwaway:
            self._launch()
            return
        self._clear_a_dead_postmaster()
        for attempt in range(_KEPT_LAUNCH_TRIES):
            try:
                self._launch()
                return
            except EmbeddedServiceError as error:
                # The backends of a killed server leave its shared memory a moment after it died.
                if attempt + 1 == _KEPT_LAUNCH_TRIES or "still in use" not in str(error):
                    raise
                time.sleep(1.0)

    def _clear_a_dead_postmaster(self) -> None:
        """A kept cluster whose server was killed with its run: the server may be dead but not yet reaped
        (a zombie answers kill(pid, 0), so Postgres would refuse the lock file it left). Wait for it to end
        (a live one, another run's, is left for Postgres to refuse), then remove its lock file."""
        lock = self._data / "postmaster.pid"
        try:
            pid = int(lock.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return
        deadline = time.monotonic() + _DEAD_SERVER_WAIT_S
        while is_running(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if not is_running(pid):
            lock.unlink(missing_ok=True)

    def _run_as_postgres_user(self) -> None:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise EmbeddedServiceError(
                "running as root: initdb refuses root and there is no `postgres` user to run it as"
            ) from None
        self._user = "postgres"
        os.chown(self._root, owner.pw_uid, owner.pw_gid)
        self.log_path.touch()
        os.chown(self.log_path, owner.pw_uid, owner.pw_gid)

    def _initdb(self) -> None:
        args = [str(self._bindir / "initdb"), "-D", str(self._data), "-U", USER]
        args += ["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"]
        result = subprocess.run(args, capture_output=True, user=self._user, check=False)
        if result.returncode != 0:
            raise EmbeddedServiceError(f"initdb failed: {result.stderr.decode(errors='replace')[-2000:]}")

    def _launch(self) -> None:
        args = [str(self._bindir / "postgres"), "-D", str(self._data), "-p", str(self.port)]
        args += ["-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self._root}"]
        args += ["-c", "max_connections=200", "-c", "shared_buffers=256MB"]
        if not self._durable:
            # Test clusters are thrown away: trade crash safety for speed.
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._process = spawn(args, self.log_path, user=self._user)
        wait_until(self._ready_since(offset), self._process, "Postgres", self.log_path, _START_TIMEOUT_S)

    def _ready_since(self, offset: int) -> Callable[[], bool]:
        def ready() -> bool:
            try:
                with self.log_path.open("rb") as log:
                    log.seek(offset)
                    return _READY_LINE.encode() in log.read()
            except OSError:
                return False

        return ready

    def stop(self, remove: bool = True) -> None:
        """Stop the server; a throwaway cluster is also deleted (unless not `remove`), a kept one never."""
        stop(self._process, signal.SIGINT)  # SIGINT = "fast" shutdown: roll back, then exit.
        self._process = None
        if remove and self.throwaway:
            shutil.rmtree(self._root, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL the server (a crash); `restart()` brings it back on the same data and port."""
        if self._process:
            self._process.kill()
            self._process.wait()
            self._process = None

    def restart(self) -> None:
        self.stop(remove=False)
        self._launch()

    def log_tail(self) -> str:
        return tail(self.log_path)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
