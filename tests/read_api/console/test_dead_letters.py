"""/v1/dead-letters: list, show (redacted), retry, drop and retry many, through workers/replay/dead_letters.py."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.read_api.conftest import ReadApi
from tests.read_api.console.seed import TOPIC, call, dead_letter, record_of
from workers.applier.records import ConsumedRecord

CIPHERTEXT = "U0VBTEVELUNMSUVOVC1TRUNSRVQ="


async def post(api: ReadApi, path: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token or api.token}"}
    response = await api.client.post(path, json=body, headers=headers)
    return response.status, await response.json()


async def letter_ids(db: asyncpg.Connection) -> list[int]:
    return [row["dead_letter_id"] for row in await db.fetch("SELECT dead_letter_id FROM dead_letters ORDER BY 1")]


async def state_of(db: asyncpg.Connection, letter_id: int) -> str:
    state: str = await db.fetchval("SELECT state FROM dead_letters WHERE dead_letter_id = $1", letter_id)
    return state


@pytest.fixture
async def fixable(db: asyncpg.Connection, tenant_id: str) -> tuple[int, str]:
    """A valid call that failed while, say, a bad deploy broke its apply: a retry now applies it."""
    record = record_of(
        call(tenant_id, "applicationSync", 1, flag=1, appId="app-1", clientId="client-1", clientSecret=CIPHERTEXT)
    )
    await dead_letter(db, record, "failed 5 times: RaiseError('deploy 41 broke applications')")
    [letter_id] = await letter_ids(db)
    return letter_id, dict(record.headers)["syncpipe-event-id"].decode()


async def test_waiting_letters_are_listed_newest_first_with_their_reason(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    for n in range(3):
        await dead_letter(db, record_of(call(tenant_id, "singleOrgSync", n, flag=1, orgCode=f"D{n}")), f"reason {n}")
    await dead_letter(db, record_of(call("someone-else", "singleOrgSync", 1, flag=1, orgCode="X")), "other")

    status, body = await api.get("/v1/dead-letters", tenantId=tenant_id)
    assert status == 200
    assert body["total"] == 3
    assert [letter["reason"] for letter in body["deadLetters"]] == ["reason 2", "reason 1", "reason 0"]
    letter = body["deadLetters"][0]
    assert (letter["tenantId"], letter["interface"], letter["state"], letter["failures"]) == (
        tenant_id,
        "singleOrgSync",
        "dead",
        1,
    )
    assert letter["source"]["topic"] == TOPIC
    _, limited = await api.get("/v1/dead-letters", limit="1")
    assert (len(limited["deadLetters"]), limited["total"]) == (1, 4)
    for bad in ({"state": "gone"}, {"limit": "0"}, {"tenantId": "x" * 65}):
        status, _ = await api.get("/v1/dead-letters", **bad)
        assert status == 400, bad


async def test_a_letter_is_shown_with_its_record_and_never_its_secrets(api: ReadApi, fixable: tuple[int, str]) -> None:
    letter_id, event_id = fixable
    response = await api.client.get(f"/v1/dead-letters/{letter_id}", headers={"Authorization": f"Bearer {api.token}"})
    assert response.status == 200
    assert CIPHERTEXT not in await response.text()
    body = await response.json()
    assert (body["id"], body["eventId"], body["eventStatus"]) == (letter_id, event_id, "dead_lettered")
    assert body["payload"]["call"]["clientSecret"] == "[redacted]"
    assert body["payload"]["call"]["appId"] == "app-1"
    assert {"name": "syncpipe-event-id", "value": event_id} in body["headers"]
    assert body["payloadBytes"] > 0
    status, _ = await api.get("/v1/dead-letters/999999")
    assert status == 404
    for not_an_id in ("abc", "%C2%B2", "%D9%A3"):  # "²" and "٣" are digits to str.isdigit()
        status, _ = await api.get(f"/v1/dead-letters/{not_an_id}")
        assert status == 404, not_an_id
    status, _ = await api.get(f"/v1/dead-letters/{'9' * 19}")  # past a bigint
    assert status == 400
    response = await api.client.get("/v1/dead-letters/retry", headers={"Authorization": f"Bearer {api.token}"})
    assert (response.status, response.headers["Allow"]) == (405, "POST")


async def test_a_letter_that_still_fails_is_shown_as_text_redacted(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    broken = ConsumedRecord(TOPIC, 1, 1, tenant_id.encode(), b'not json "clientSecret": "abc123"', ())
    await dead_letter(db, broken, "not JSON")
    [letter_id] = await letter_ids(db)
    _, body = await api.get(f"/v1/dead-letters/{letter_id}")
    assert body["payload"] is None
    assert "abc123" not in body["payloadText"]
    assert body["payloadText"].startswith("not json")


async def test_a_retried_letter_applies_its_event_which_then_owes_a_second_ack(
    api: ReadApi, db: asyncpg.Connection, fixable: tuple[int, str], tenant_id: str
) -> None:
    letter_id, event_id = fixable
    status, outcome = await post(api, f"/v1/dead-letters/{letter_id}/retry")
    assert status == 200
    assert outcome == {"id": letter_id, "eventId": event_id, "result": "applied", "reason": None, "resolved": True}
    assert await state_of(db, letter_id) == "retried"
    _, applications = await api.get(f"/v1/tenants/{tenant_id}/applications")
    assert [app["appId"] for app in applications["applications"]] == ["app-1"]

    _, detail = await api.get(f"/v1/events/{event_id}/detail")
    assert detail["status"] == "applied"
    assert [ack["status"] for ack in detail["acks"]] == ["dead_lettered", "applied"]  # the platform learns both
    assert detail["deadLetters"][0]["retryStatus"] == "applied"
    statuses = [step["status"] for step in detail["history"]]
    assert statuses.index("dead_lettered") < statuses.index("applied")

    status, again = await post(api, f"/v1/dead-letters/{letter_id}/retry")
    assert (status, again["result"], again["resolved"]) == (200, "skipped", False)


async def test_a_retry_that_fails_again_leaves_the_letter_waiting_with_one_more_failure(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    await dead_letter(db, ConsumedRecord(TOPIC, 2, 7, tenant_id.encode(), b"not json", ()), "not JSON")
    [letter_id] = await letter_ids(db)
    _, outcome = await post(api, f"/v1/dead-letters/{letter_id}/retry")
    assert (outcome["result"], outcome["resolved"]) == ("dead_lettered", False)
    _, listed = await api.get("/v1/dead-letters", tenantId=tenant_id)
    assert [(letter["state"], letter["failures"]) for letter in listed["deadLetters"]] == [("dead", 2)]


async def test_a_dropped_letter_is_kept_for_audit_and_cannot_be_retried(
    api: ReadApi, db: asyncpg.Connection, fixable: tuple[int, str]
) -> None:
    letter_id, event_id = fixable
    status, outcome = await post(api, f"/v1/dead-letters/{letter_id}/drop")
    assert (status, outcome) == (200, {"id": letter_id, "result": "dropped", "reason": None})
    _, retried = await post(api, f"/v1/dead-letters/{letter_id}/retry")
    assert retried["result"] == "skipped"
    _, waiting = await api.get("/v1/dead-letters")
    _, dropped = await api.get("/v1/dead-letters", state="dropped")
    assert waiting["total"] == 0
    assert [letter["id"] for letter in dropped["deadLetters"]] == [letter_id]
    _, event = await api.get(f"/v1/events/{event_id}")
    assert event["status"] == "dead_lettered"
    for action in ("retry", "drop"):
        status, _ = await post(api, f"/v1/dead-letters/424242/{action}")
        assert status == 404


async def test_many_letters_are_retried_by_id_or_all_at_once(
    api: ReadApi, db: asyncpg.Connection, tenant_id: str
) -> None:
    for n in range(4):
        await dead_letter(db, record_of(call(tenant_id, "singleOrgSync", n, flag=1, orgCode=f"D{n}")), "deploy 41")
    await dead_letter(db, record_of(call("other-tenant", "singleOrgSync", 1, flag=1, orgCode="Z")), "deploy 41")
    ids = await letter_ids(db)

    status, chosen = await post(api, "/v1/dead-letters/retry", {"ids": [ids[0], float(ids[1]), ids[0]]})
    assert status == 200
    assert [(r["id"], r["result"]) for r in chosen["results"]] == [(ids[0], "applied"), (ids[1], "applied")]
    assert chosen["remaining"] == 0
    _, of_tenant = await post(api, "/v1/dead-letters/retry", {"all": True, "tenantId": tenant_id})
    assert [(r["id"], r["result"]) for r in of_tenant["results"]] == [(ids[2], "applied"), (ids[3], "applied")]
    assert await state_of(db, ids[4]) == "dead"
    _, everything = await post(api, "/v1/dead-letters/retry", {"all": True})
    assert [r["id"] for r in everything["results"]] == [ids[4]]
    _, departments = await api.get(f"/v1/tenants/{tenant_id}/departments")
    assert [d["orgCode"] for d in departments["departments"]] == ["D0", "D1", "D2", "D3"]


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"ids": []},
        {"ids": ["1"]},
        {"ids": [True]},
        {"ids": [1.5]},
        {"ids": [2**63]},
        {"all": True, "tenantId": 5},
    ],
)
async def test_a_bulk_retry_needs_ids_or_all(api: ReadApi, body: Any) -> None:
    status, answer = await post(api, "/v1/dead-letters/retry", body)
    assert status == 400
    assert answer["error"]


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        (b"[" * 100_000, "application/json"),  # nesting past the decoder's stack was a 500
        (b'{"ids": [1]}\xff', "application/json"),
    ],
)
async def test_a_bulk_retry_body_that_cannot_be_read_is_a_400(api: ReadApi, raw: bytes, content_type: str) -> None:
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": content_type}
    response = await api.client.post("/v1/dead-letters/retry", data=raw, headers=headers)
    assert (response.status, (await response.json())["error"]) == (400, "the body must be a JSON object")


async def test_a_bulk_retry_body_is_read_as_utf8_whatever_charset_it_declares(api: ReadApi) -> None:
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json; charset=nope"}
    response = await api.client.post("/v1/dead-letters/retry", data=b'{"all": true}', headers=headers)
    assert response.status == 200  # an unknown charset was a 500


BIGINT_MAX = 2**63 - 1


@pytest.mark.parametrize("ids", [[BIGINT_MAX + 1], [1, 2**64], [10**40], [0], [-1]])
async def test_a_bulk_retry_of_ids_no_bigint_holds_is_refused(api: ReadApi, ids: list[int]) -> None:
    status, answer = await post(api, "/v1/dead-letters/retry", {"ids": ids})
    assert (status, answer) == (400, {"error": f"ids must be integers from 1 to {BIGINT_MAX}"})


@pytest.mark.parametrize("action", ["retry", "drop", None])
@pytest.mark.parametrize("letter_id", [str(BIGINT_MAX + 1), "9" * 19, "0"])
async def test_a_dead_letter_id_no_bigint_holds_is_refused(api: ReadApi, action: str | None, letter_id: str) -> None:
    path = f"/v1/dead-letters/{letter_id}" + (f"/{action}" if action else "")
    response = await (api.client.post if action else api.client.get)(
        path, headers={"Authorization": f"Bearer {api.token}"}
    )
    assert (response.status, await response.json()) == (
        400,
        {"error": f"a dead letter id is an integer from 1 to {BIGINT_MAX}"},
    )


async def test_the_largest_bigint_is_a_dead_letter_id_that_is_not_found(api: ReadApi) -> None:
    status, answer = await post(api, f"/v1/dead-letters/{BIGINT_MAX}/drop")
    assert (status, answer) == (404, {"error": f"dead letter {BIGINT_MAX} not found"})


async def test_a_wrong_token_retries_and_drops_nothing(
    api: ReadApi, db: asyncpg.Connection, fixable: tuple[int, str]
) -> None:
    letter_id, _ = fixable
    for path, body in [
        (f"/v1/dead-letters/{letter_id}/retry", None),
        (f"/v1/dead-letters/{letter_id}/drop", None),
        ("/v1/dead-letters/retry", {"all": True}),
    ]:
        status, _ = await post(api, path, body, token="not-the-token")
        assert status == 401
    assert await state_of(db, letter_id) == "dead"
