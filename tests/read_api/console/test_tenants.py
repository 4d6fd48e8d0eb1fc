"""GET /v1/tenants?search= and GET /v1/tenants/{tenantId}/events: finding a tenant and its timeline."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from read_api.console.routes import EVENTS_DEFAULT_LIMIT
from tests.read_api.conftest import ReadApi
from tests.read_api.console.seed import apply_calls, call, dead_letter, record_of
from tests.read_api.seed import insert_tenant
from workers.replay.history import tenant_history


@pytest.fixture
def tag() -> str:
    """A fragment only this test's tenants hold: tests share nothing, not even a search result."""
    return uuid.uuid4().hex[:8]


async def test_a_tenant_is_found_by_part_of_its_id_name_or_code_in_any_case(
    api: ReadApi, db: asyncpg.Connection, tag: str
) -> None:
    await insert_tenant(db, f"t-{tag}-1", name="北京 Acme 股份", tenant_code=f"code-{tag}")
    await insert_tenant(db, f"t-{tag}-2", name="Globex", tenant_code="globex", deleted=True)

    for search, expected in [
        (f"T-{tag.upper()}", [f"t-{tag}-1", f"t-{tag}-2"]),
        ("acme 股份", [f"t-{tag}-1"]),
        (f"CODE-{tag}", [f"t-{tag}-1"]),
        ("globex", [f"t-{tag}-2"]),
    ]:
        status, body = await api.get("/v1/tenants", search=search)
        assert status == 200
        assert [tenant["tenantId"] for tenant in body["tenants"]] == expected, search
    _, body = await api.get("/v1/tenants", search="Globex")
    assert body["tenants"] == [
        {"tenantId": f"t-{tag}-2", "name": "Globex", "tenantCode": "globex", "deleted": True, "hasRecord": True}
    ]


async def test_pattern_characters_are_matched_literally(api: ReadApi, db: asyncpg.Connection, tag: str) -> None:
    await insert_tenant(db, f"t-{tag}", name="100% real_name")
    for search, found in [("100%", True), ("1%0", False), ("real_", True), ("r_al", False)]:
        _, body = await api.get("/v1/tenants", search=search)
        assert (f"t-{tag}" in [t["tenantId"] for t in body["tenants"]]) is found, search


async def test_a_tenant_known_only_from_its_events_is_found_by_its_whole_id(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    await dead_letter(db, record_of(call(tenant_id, "singleOrgSync", 1, flag=1, orgCode="A")), "broken")
    _, whole = await api.get("/v1/tenants", search=tenant_id)
    _, part = await api.get("/v1/tenants", search=tenant_id[:-2])
    assert whole["tenants"] == [
        {"tenantId": tenant_id, "name": "", "tenantCode": "", "deleted": False, "hasRecord": False}
    ]
    assert tenant_id not in [t["tenantId"] for t in part["tenants"]]


async def test_the_search_is_bounded(api: ReadApi, db: asyncpg.Connection, tag: str) -> None:
    for n in range(4):
        await insert_tenant(db, f"t-{tag}-{n}")
    _, body = await api.get("/v1/tenants", search=tag, limit="3")
    assert [t["tenantId"] for t in body["tenants"]] == [f"t-{tag}-{n}" for n in range(3)]
    for limit in ("0", "51", "x"):
        status, _ = await api.get("/v1/tenants", search=tag, limit=limit)
        assert status == 400, limit
    status, _ = await api.get("/v1/tenants", search="x" * 256)
    assert status == 400


async def test_the_timeline_shows_each_event_with_its_platform_timestamp_status_and_ack(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    result = await apply_calls(
        db,
        [
            call(tenant_id, "tenantSync", 1, flag=1, name="Acme"),
            call(tenant_id, "singleOrgSync", 7, flag=1, orgCode="A"),
            call(tenant_id, "singleOrgSync", 3, flag=1, orgCode="A"),  # older than the one before: stale
        ],
    )
    first = result.finished[0].event_id
    await db.execute("UPDATE ack_outbox SET sent_at = now(), attempts = 1 WHERE event_id = $1", first)

    status, body = await api.get(f"/v1/tenants/{tenant_id}/events")
    assert status == 200
    assert body["tenantId"] == tenant_id
    assert (body["more"], body["uploadsWaiting"]) == (False, 0)
    events = body["events"]
    assert [(e["interface"], e["timeStamp"], e["status"]) for e in events] == [
        ("tenantSync", "20260301120000001", "applied"),
        ("singleOrgSync", "20260301120000007", "applied"),
        ("singleOrgSync", "20260301120000003", "stale"),
    ]
    assert events[0]["eventId"] == first
    assert events[0]["ack"] == {"state": "sent", "attempts": 1, "lastError": None}
    assert events[1]["ack"] == {"state": "pending", "attempts": 0, "lastError": None}
    assert all(event["deadLetter"] is None for event in events)
    # One shape for one object: the timeline `syncpipe events --tenant ID --json` prints.
    assert body == (await tenant_history(db, tenant_id, since=None, limit=EVENTS_DEFAULT_LIMIT)).to_json()


async def test_the_timeline_links_a_dead_letter_and_keeps_the_newest_events(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    await apply_calls(db, [call(tenant_id, "singleOrgSync", n, flag=1, orgCode=f"D{n}") for n in range(3)])
    await dead_letter(db, record_of(call(tenant_id, "singleOrgSync", 9, flag=1, orgCode="X")), "failed 5 times")
    _, body = await api.get(f"/v1/tenants/{tenant_id}/events", limit="2")
    assert body["more"] is True
    assert len(body["events"]) == 2
    newest = body["events"][-1]
    assert newest["status"] == "dead_lettered"
    assert newest["reason"] == "failed 5 times"
    assert newest["deadLetter"]["state"] == "dead"
    status, _ = await api.get(f"/v1/tenants/{tenant_id}/events", limit="1001")
    assert status == 400


async def test_a_tenant_without_events_has_an_empty_timeline(api: ReadApi, tenant_id: str) -> None:
    status, body = await api.get(f"/v1/tenants/{tenant_id}/events")
    assert (status, body["events"], body["more"]) == (200, [], False)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/tenants", {"search": "a\x00b"}),
        ("/v1/tenants/a%00b/events", {}),
        ("/v1/events/a%00b/detail", {}),
        ("/v1/dead-letters", {"tenantId": "a\x00"}),
    ],
)
async def test_a_nul_character_is_a_bad_request_not_a_query(api: ReadApi, path: str, params: dict[str, str]) -> None:
    status, body = await api.get(path, **params)
    assert status == 400
    assert "NUL" in body["error"]
