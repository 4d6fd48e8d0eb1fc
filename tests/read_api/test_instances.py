"""The merchant's side of the order lifecycle (SPEC §9) on the read API: list, show, appInfo, events."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from schemas.instance_calls import derive_instance_id
from tests.read_api.conftest import ReadApi
from tests.read_api.instance_seed import apply_instance_calls

APP_INFO = {
    "frontEndUrl": "https://app.example/i/1",
    "adminUrl": "https://app.example/admin",
    "userName": "admin",
    "password": "s3cret-initial",
    "memo": "初始密码请尽快修改",
}


class Orders:
    """Order lines of one test: its own, so the database's other rows never matter."""

    def __init__(self) -> None:
        self.prefix = uuid.uuid4().hex[:8]

    def line(self, name: str) -> tuple[str, str, str]:
        order, line = f"{self.prefix}-{name}", f"{self.prefix}-{name}-1"
        return order, line, derive_instance_id(order, line)


def new(order: str, line: str) -> dict[str, str]:
    return {"activity": "newInstance", "orderId": order, "orderLineId": line}


async def put_app_info(api: ReadApi, instance_id: str, body: Any, *, raw: bytes | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
    path = f"/v1/instances/{instance_id}/app-info"
    response = await (
        api.client.put(path, data=raw, headers=headers)
        if raw is not None
        else api.client.put(path, json=body, headers=headers)
    )
    return response.status, await response.json()


@pytest.fixture
async def seeded(db: asyncpg.Connection) -> dict[str, str]:
    """A provisioning instance, a waiting one (a freeze before its newInstance), a released one."""
    orders = Orders()
    open_order, open_line, opened = orders.line("open")
    _, _, waiting = orders.line("waiting")
    gone_order, gone_line, released = orders.line("gone")
    renew = {"scene": "RENEWAL", "orderId": open_order, "orderLineId": open_line, "expireTime": "20270101000000"}
    await apply_instance_calls(
        db,
        [
            (10, new(open_order, open_line)),
            (20, {"activity": "refreshInstance", "instanceId": opened, "productId": "P-9", **renew}),
            (30, {"activity": "updateInstanceStatus", "instanceId": waiting, "status": "FREEZE"}),
            (40, new(gone_order, gone_line)),
            (50, {"activity": "releaseInstance", "instanceId": released}),
        ],
    )
    return {"provisioning": opened, "waiting": waiting, "released": released}


async def test_instances_are_listed_newest_first_and_filtered_by_status(api: ReadApi, seeded: dict[str, str]) -> None:
    status, listed = await api.get("/v1/instances")
    assert status == 200
    assert {item["instanceId"]: item["status"] for item in listed["instances"]} == {
        instance: state for state, instance in seeded.items()
    }
    assert listed["more"] is False
    status, released = await api.get("/v1/instances", status="released", limit="1")
    assert (status, [item["instanceId"] for item in released["instances"]]) == (200, [seeded["released"]])
    assert (await api.get("/v1/instances", status="paused"))[0] == 400
    assert (await api.get("/v1/instances", limit="0"))[0] == 400


async def test_one_instance_shows_its_orders_expiry_and_plan(api: ReadApi, seeded: dict[str, str]) -> None:
    status, shown = await api.get(f"/v1/instances/{seeded['provisioning']}")
    assert status == 200
    assert shown["status"] == "provisioning"
    assert (shown["expireTime"], shown["productId"], shown["scene"]) == ("20270101000000", "P-9", "RENEWAL")
    assert shown["orders"] == [{"orderId": shown["orderId"], "orderLineId": shown["orderLineId"]}]
    assert shown["appInfo"] is None
    assert shown["createdAt"] is not None
    assert (await api.get("/v1/instances/no-such-instance"))[0] == 404


async def test_app_info_makes_an_instance_ready_and_its_password_is_never_served(
    api: ReadApi, seeded: dict[str, str], db: asyncpg.Connection
) -> None:
    instance = seeded["provisioning"]
    status, shown = await put_app_info(api, instance, APP_INFO)
    assert (status, shown["status"]) == (200, "ready")
    assert shown["appInfo"] == {**{k: v for k, v in APP_INFO.items() if k != "password"}, "passwordSet": True}
    assert shown["readyAt"] is not None
    assert (await api.get(f"/v1/instances/{instance}"))[1] == shown
    assert "s3cret-initial" not in str(await api.get("/v1/instances"))
    # The gateway reads the password from the row, for the platform's queryInstance.
    stored = await db.fetchval("SELECT app_info->>'password' FROM instances WHERE instance_id = $1", instance)
    assert stored == "s3cret-initial"

    status, again = await put_app_info(api, instance, {"frontEndUrl": "https://app.example/i/moved"})
    assert (status, again["appInfo"]["frontEndUrl"], again["appInfo"]["passwordSet"]) == (
        200,
        "https://app.example/i/moved",
        False,
    )
    assert again["readyAt"] == shown["readyAt"]  # ready since the first appInfo


async def test_app_info_refused_for_what_cannot_take_it(api: ReadApi, seeded: dict[str, str]) -> None:
    status, answer = await put_app_info(api, seeded["waiting"], APP_INFO)
    assert (status, "newInstance has not arrived" in answer["error"]) == (409, True)
    status, answer = await put_app_info(api, seeded["released"], APP_INFO)
    assert (status, "released" in answer["error"]) == (409, True)
    assert (await put_app_info(api, "no-such-instance", APP_INFO))[0] == 404


@pytest.mark.parametrize(
    ("body", "raw", "words"),
    [
        ({"adminUrl": "https://x"}, None, "frontEndUrl: Field required"),
        ({"frontEndUrl": ""}, None, "frontEndUrl: String should have at least 1 character"),
        ({"frontEndUrl": "https://x", "token": "t"}, None, "token: Extra inputs are not permitted"),
        ({"frontEndUrl": "https://x\u0000"}, None, "NUL"),
        (None, b"{not json", "Invalid JSON"),
        (None, b"[]", "body"),
        (None, b'{"frontEndUrl": "' + b"x" * 20000 + b'"}', "larger than"),
    ],
)
async def test_a_bad_app_info_is_refused_400_naming_the_problem(
    api: ReadApi, seeded: dict[str, str], body: Any, raw: bytes | None, words: str
) -> None:
    status, answer = await put_app_info(api, seeded["provisioning"], body, raw=raw)
    assert status == 400
    assert words in answer["error"], answer
    assert (await api.get(f"/v1/instances/{seeded['provisioning']}"))[1]["status"] == "provisioning"


async def test_app_info_needs_the_bearer_token(api: ReadApi, seeded: dict[str, str]) -> None:
    response = await api.client.put(f"/v1/instances/{seeded['provisioning']}/app-info", json=APP_INFO)
    assert response.status == 401


async def test_the_events_of_an_instance_with_their_acks(api: ReadApi, seeded: dict[str, str]) -> None:
    status, answer = await api.get(f"/v1/instances/{seeded['provisioning']}/events")
    assert status == 200
    assert [(event["interface"], event["status"], event["ack"]["state"]) for event in answer["events"]] == [
        ("newInstance", "applied", "pending"),
        ("refreshInstance", "applied", "pending"),
    ]
    assert answer["events"][0]["timeStamp"] is not None
    assert (await api.get(f"/v1/instances/{seeded['waiting']}/events"))[1]["events"][0]["interface"] == (
        "updateInstanceStatus"
    )
