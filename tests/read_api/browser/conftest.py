"""One pipeline fed by the platform simulator, and one headless Chromium, for every console test of a module.

Starting the pipeline and simulating tenants takes seconds; the tests only read what they produced
(or, for the dead letter, add calls of their own), so they share it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright

from schemas.calls import Interface
from syncpipe.simulation.config import SimulationConfig
from syncpipe.simulation.generator import PlatformCall, WorkloadSizes, tenant_ids
from syncpipe.simulation.runner import simulate
from tests.read_api.browser.browser import CHROMIUM, CHROMIUM_ARGS, INSTALL_HINT
from tests.read_api.browser.pipeline import Pipeline, fresh_database, running_pipeline

SEED = 9
TENANTS = 3
SIZES = WorkloadSizes(departments_per_tenant=14, users_per_tenant=10, changes_per_tenant=12)
# Newer than anything the simulator sends, so these departments stay whatever it sent before.
LATE = "20300101000000"


@dataclass(frozen=True)
class World:
    pipeline: Pipeline
    console_url: str
    tenant_id: str  # a live tenant of the simulation, with departments, an orphan and a cycle
    tenant_name: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(kafka_bootstrap: str, postgres_server_dsn: str) -> AsyncIterator[World]:
    async with (
        fresh_database(postgres_server_dsn) as database_url,
        running_pipeline(kafka_bootstrap, database_url) as pipeline,
    ):
        report = await simulate(
            SimulationConfig(
                gateway_url=pipeline.gateway_url,
                api_url=pipeline.api_url,
                access_key=pipeline.settings.access_keys[0],
                api_token=pipeline.settings.api_token,  # type: ignore[arg-type]
                tenants=TENANTS,
                seed=SEED,
                sizes=SIZES,
                settle_timeout_s=60,
            )
        )
        assert report.ok, report.render()
        tenant_id, name = await _live_tenant(pipeline)
        await pipeline.send(*_inconsistencies(tenant_id))
        await pipeline.wait_until("SELECT NOT EXISTS (SELECT 1 FROM ack_outbox WHERE sent_at IS NULL)")
        yield World(pipeline, f"{pipeline.api_url}/console/", tenant_id, name)


async def _live_tenant(pipeline: Pipeline) -> tuple[str, str]:
    """The first simulated tenant that exists now (a history may end with the tenant deleted)."""
    for tenant_id in tenant_ids(SEED, TENANTS, SIZES):
        found: Any = await pipeline.read(f"/v1/tenants?search={tenant_id}")
        if not found["tenants"] or found["tenants"][0]["deleted"] or not found["tenants"][0]["name"]:
            continue
        departments: Any = await pipeline.read(f"/v1/tenants/{tenant_id}/departments")
        if len(departments["departments"]) >= 5:
            return tenant_id, found["tenants"][0]["name"]
    raise AssertionError("no simulated tenant is alive with departments: change SEED")


def _inconsistencies(tenant_id: str) -> list[PlatformCall]:
    """What the platform sometimes sends (SPEC §5): a department whose parent never comes, and a loop."""

    def department(millisecond: int, code: str, parent: str) -> PlatformCall:
        body = {"tenantId": tenant_id, "timeStamp": f"{LATE}{millisecond:03d}", "flag": 1}
        return PlatformCall(Interface.SINGLE_ORG_SYNC, {**body, "orgCode": code, "orgName": code, "parentCode": parent})

    return [
        department(1, "E2E-ORPHAN", "E2E-NEVER-SENT"),
        department(2, "E2E-LOOP-A", "E2E-LOOP-B"),
        department(3, "E2E-LOOP-B", "E2E-LOOP-A"),
    ]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(INSTALL_HINT)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()
