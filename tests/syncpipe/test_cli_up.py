"""`syncpipe up` as a user runs it: a separate process on embedded services."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from runtime.settings import Settings
from syncpipe.bootstrap import DEV_ENV_FILE, write_dev_env
from syncpipe.embedded.process import free_port
from tests.conftest import WHOLE_MACHINE

pytestmark = [pytest.mark.integration, WHOLE_MACHINE]


def _environment(tmp_path: Path) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SYNCPIPE_") and name not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")
    }
    environment |= {
        "SYNCPIPE_GATEWAY_PORT": str(free_port()),
        "SYNCPIPE_API_PORT": str(free_port()),
        "SYNCPIPE_WORKER_OPS_PORT": str(free_port()),
        "SYNCPIPE_SIGNIN_PORT": str(free_port()),
    }
    return environment


@pytest.mark.parametrize(
    ("options", "broker", "keeps_calls"),
    [
        ([], "embedded Tansu broker", "in memory"),
        (["--broker", "apache"], "embedded Apache Kafka, 1 node", "in a temp folder removed when it stops"),
    ],
    ids=["tansu", "apache"],
)
def test_up_with_the_demo_converges_and_prints_ready(
    tmp_path: Path, options: list[str], broker: str, keeps_calls: str
) -> None:
    command = [sys.executable, "-m", "syncpipe", "up", *options, "--demo", "--demo-tenants", "8"]
    command += ["--demo-instances", "8", "--exit-after-demo"]
    result = subprocess.run(
        command, cwd=tmp_path, env=_environment(tmp_path), capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    # First, plainly: nothing it accepted survives it.
    first, second = result.stdout.splitlines()[:2]
    assert first.startswith(f"syncpipe up: the embedded broker keeps calls {keeps_calls}: a call answered 000000")
    assert second.startswith("syncpipe up: the embedded Postgres is thrown away")
    assert "--data-dir DIR keeps it" in second
    assert "syncpipe is ready" in result.stdout
    assert broker in result.stdout
    assert "simulation OK" in result.stdout
    assert "tenants converged 8/8" in result.stdout
    # Piped: plain lines, no escape code, a few dozen lines at most; the logs are in the files it names.
    assert "\x1b" not in result.stdout
    assert len(result.stdout.splitlines()) < 100
    assert result.stderr == ""
    logs = tmp_path / ".syncpipe" / "logs"
    assert f"{logs.relative_to(tmp_path)}/{{acker,api,gateway,signin,simulator,up,worker}}.log" in result.stdout
    assert "accepted" in (logs / "gateway.log").read_text()
    assert "sign-in service listening" in (logs / "signin.log").read_text()
    # A simulated user's sign-in URL, followed once through the simulated platform to the demo application.
    assert "sign in as a simulated user: http://127.0.0.1:" in result.stdout
    assert "sign-in check OK" in result.stdout
    demo_key = tmp_path / ".syncpipe" / "demo-app-private-key.pem"
    assert demo_key.stat().st_mode & 0o077 == 0, "the generated merchant key must be private to the user"
    assert "instances         8/8 converged" in result.stdout
    dev_env = tmp_path / ".syncpipe" / "dev.env"
    assert dev_env.stat().st_mode & 0o077 == 0, "generated credentials must be private to the user"
    secrets = [
        line.split("=", 1)[1] for line in dev_env.read_text().splitlines() if "KEYS=" in line or "TOKEN=" in line
    ]
    assert all(secret and secret not in result.stdout + result.stderr for secret in secrets)


def test_up_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "syncpipe", "up"],
        cwd=tmp_path,
        env=_environment(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            deadline = time.monotonic() + 120
            for line in process.stdout:
                if "ready" in line or time.monotonic() > deadline:
                    break
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0
        finally:
            if process.poll() is None:
                process.kill()


def test_the_dev_env_file_is_made_private_when_it_already_existed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    DEV_ENV_FILE.parent.mkdir()
    DEV_ENV_FILE.write_text("export OLD=1\n")
    DEV_ENV_FILE.chmod(0o644)  # left by an earlier run, or made by hand
    key, token = "k" * 32, "t" * 32
    settings = Settings(database_url=SecretStr("postgresql://x@h/d"), access_keys=(key,), api_token=token)  # type: ignore[arg-type]
    write_dev_env(settings)
    assert DEV_ENV_FILE.stat().st_mode & 0o777 == 0o600
    assert f"SYNCPIPE_API_TOKEN={token}" in DEV_ENV_FILE.read_text()


class Up:
    """`syncpipe up` running in a process of its own, its standard output read line by line."""

    def __init__(self, cwd: Path, environment: dict[str, str], *arguments: str) -> None:
        command = [sys.executable, "-m", "syncpipe", "up", *arguments]
        self.log_path = cwd / f"up-{time.monotonic_ns()}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                command, cwd=cwd, env=environment, stdout=subprocess.PIPE, stderr=log, text=True
            )
        self.lines: list[str] = []

    def log_tail(self) -> str:
        return "".join(self.log_path.read_text().splitlines(keepends=True)[-15:])

    def wait_for(self, text: str, timeout_s: float = 180) -> None:
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout_s
        for line in self.process.stdout:
            self.lines.append(line)
            if text in line:
                return
            assert time.monotonic() < deadline, f"no {text!r} within {timeout_s} s: {self.lines}"
        raise AssertionError(f"up ended before {text!r}: {self.lines}\n{self.log_tail()}")

    def kill(self) -> None:
        self.process.kill()
        self._ended(self.process.wait())

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        assert self._ended(self.process.wait(timeout=60)) == 0, self.log_tail()

    def _ended(self, returncode: int) -> int:
        if self.process.stdout is not None:
            self.process.stdout.close()
        return returncode


def _api_get(cwd: Path, path: str) -> object:
    variables = dict(
        line.removeprefix("export ").split("=", 1) for line in (cwd / DEV_ENV_FILE).read_text().splitlines()
    )
    request = urllib.request.Request(
        f"http://127.0.0.1:{variables['SYNCPIPE_API_PORT']}{path}",
        headers={"Authorization": f"Bearer {variables['SYNCPIPE_API_TOKEN']}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture
def shared_temp_dir() -> Iterator[Path]:
    """A temp directory of the test's own that the `postgres` user can enter (the embedded Postgres runs
    as that user under root; pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="syncpipe-test-up-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_up_with_a_data_dir_keeps_what_was_applied_across_a_kill(tmp_path: Path, shared_temp_dir: Path) -> None:
    data_dir = shared_temp_dir / "data"
    first = Up(tmp_path, _environment(tmp_path), "--data-dir", str(data_dir), "--demo", "--demo-tenants", "3")
    try:
        first.wait_for("simulation OK")
        assert first.lines[0].startswith("syncpipe up: the embedded broker keeps calls in memory")
        assert first.lines[1] == f"syncpipe up: the embedded Postgres is kept in {data_dir / 'postgres'}\n"
        applied: Any = _api_get(tmp_path, "/v1/tenants?limit=50")
        assert applied["tenants"]
    finally:
        first.kill()  # no clean stop: as a laptop's lid closes or a terminal is killed

    second = Up(tmp_path, _environment(tmp_path), "--data-dir", str(data_dir))
    try:
        second.wait_for("syncpipe is ready")
        assert _api_get(tmp_path, "/v1/tenants?limit=50") == applied
    finally:
        second.stop()
    assert (data_dir / "postgres" / "data" / "PG_VERSION").exists()


def test_the_temp_folders_of_a_killed_run_are_removed_at_the_next_start(tmp_path: Path, shared_temp_dir: Path) -> None:
    environment = {**_environment(tmp_path), "TMPDIR": str(shared_temp_dir)}
    killed = Up(tmp_path, environment)
    try:
        killed.wait_for("syncpipe is ready")
    finally:
        killed.kill()
    left = sorted(shared_temp_dir.glob("syncpipe-*"))
    assert {folder.name.rsplit("-", 1)[0] for folder in left} == {"syncpipe-pg", "syncpipe-kafka"}

    running = Up(tmp_path, {**environment, "SYNCPIPE_GATEWAY_PORT": str(free_port())})
    try:
        running.wait_for("syncpipe is ready")
        assert not [folder for folder in left if folder.exists()], "the killed run's folders are still there"
        assert len(list(shared_temp_dir.glob("syncpipe-pg-*"))) == 1  # the running one's own
    finally:
        running.stop()
    assert not list(shared_temp_dir.glob("syncpipe-*")), "a clean stop leaves nothing behind"
