"""`syncpipe up` as a user runs it: a separate process on embedded services."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
        "SYNCPIPE_SIGNIN_PORT": str(free_port()),
    }
    return environment


@pytest.mark.parametrize(
    ("options", "broker"),
    [([], "embedded Tansu broker"), (["--broker", "apache"], "embedded Apache Kafka, 1 node")],
    ids=["tansu", "apache"],
)
def test_up_with_the_demo_converges_and_prints_ready(tmp_path: Path, options: list[str], broker: str) -> None:
    command = [sys.executable, "-m", "syncpipe", "up", *options, "--demo", "--demo-tenants", "8"]
    command += ["--demo-instances", "8", "--exit-after-demo"]
    result = subprocess.run(
        command, cwd=tmp_path, env=_environment(tmp_path), capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "syncpipe is ready" in result.stdout
    assert broker in result.stdout
    assert "simulation OK" in result.stdout
    assert "tenants converged 8/8" in result.stdout
    # Piped: plain lines, no escape code, a few dozen lines at most; the logs are in the files it names.
    assert "\x1b" not in result.stdout
    assert len(result.stdout.splitlines()) < 100
    assert result.stderr == ""
    logs = tmp_path / ".syncpipe" / "logs"
    assert f"{logs.relative_to(tmp_path)}/{{acker,api,gateway,simulator,up,worker}}.log" in result.stdout
    assert "accepted" in (logs / "gateway.log").read_text()
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
