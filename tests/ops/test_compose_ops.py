"""docker-compose.yml against the operations setup: every long-running syncpipe service is checked on
/readyz, the workers and the acker serve their ops port on the compose network without publishing it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OPS_PORT_SETTING = {"worker": "SYNCPIPE_WORKER_OPS_PORT", "acker": "SYNCPIPE_ACKER_OPS_PORT"}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    return services


@pytest.mark.parametrize("name", ["gateway", "api", "worker", "acker"])
def test_every_long_running_service_is_checked_on_readyz(services: dict[str, Any], name: str) -> None:
    check = " ".join(services[name]["healthcheck"]["test"])
    assert "/readyz" in check


@pytest.mark.parametrize("name", ["worker", "acker"])
def test_workers_and_the_acker_serve_an_unpublished_ops_port(services: dict[str, Any], name: str) -> None:
    service = services[name]
    environment = service["environment"]
    port_setting = OPS_PORT_SETTING[name]
    assert int(environment[port_setting]) > 0
    assert environment["SYNCPIPE_OPS_HOST"] == "0.0.0.0", "reachable by a Prometheus on the compose network"
    assert "ports" not in service
    assert port_setting in " ".join(service["healthcheck"]["test"])
