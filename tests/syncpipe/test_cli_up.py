"""`syncpipe up` as a user runs it: a separate process on embedded services."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from runtime.settings import Settings
from syncpipe.bootstrap import DEV_ENV_FILE, write_dev_env
from syncpipe.embedded.process import free_port

pytestmark = pytest.mark.integration


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
    }
    return environment


def test_up_with_the_demo_converges_and_prints_ready(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "syncpipe", "up", "--demo", "--demo-tenants", "8", "--exit-after-demo"]
    result = subprocess.run(
        command, cwd=tmp_path, env=_environment(tmp_path), capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "syncpipe is ready" in result.stdout
    assert "simulation OK" in result.stdout
    assert "tenants converged 8/8" in result.stdout
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
