"""A call holding a NUL character anywhere is answered 000002 naming where, and nothing is published.

Postgres text and jsonb cannot store U+0000, so such a call could never be applied: answering it
000000 would tell the platform "stored" for a change that is later dead-lettered. Raw JSON can carry
the character only as the escape `\\u0000`, which is what these bodies send.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.gateway.conftest import RunningGateway
from tests.gateway.platform import sample_body

TENANT = "t-nul"
NUL_REFUSED = "contains a NUL character (\\u0000), which cannot be stored"


def raw_json(body: dict[str, Any]) -> bytes:
    """The body as the platform writes it: a NUL leaves as the six characters `\\u0000`."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    assert b"\x00" not in raw
    return raw


async def assert_refused(gateway: RunningGateway, interface: str, raw: bytes, message: str) -> None:
    raw, headers = gateway.sign(raw)
    status, answer = await gateway.post(interface, raw, headers)
    assert (status, answer) == (200, {"resultCode": "000002", "resultMsg": message})
    assert gateway.published == []


@pytest.mark.parametrize(
    ("interface", "overrides", "field"),
    [
        ("singleOrgSync", {"orgName": "R&D\x00"}, "orgName"),
        ("tenantSync", {"name": "\x00ACME"}, "name"),
        (
            "allOrgSync",
            {"orgInfoList": [{"orgCode": "root"}, {"orgCode": "rnd", "orgName": "R&D\x00"}]},
            "orgInfoList.1.orgName",
        ),
        (
            "allOrgSync",
            {"orgInfoList": json.dumps([{"orgCode": "root", "parentCode": "\x00"}])},
            "orgInfoList.0.parentCode",
        ),
        ("authSync", {"userList": [{"userName": "ada", "email": "ada@example.com\x00"}]}, "userList.0.email"),
        ("tenantSync", {"vendorNote": {"tags": ["a", "b\x00"]}}, "vendorNote.tags.1"),
    ],
)
async def test_a_nul_in_a_value_is_refused_naming_the_field(
    gateway: RunningGateway, interface: str, overrides: dict[str, Any], field: str
) -> None:
    raw = raw_json(sample_body(interface, TENANT, **overrides))
    await assert_refused(gateway, interface, raw, f"{field}: {NUL_REFUSED}")


@pytest.mark.parametrize(
    ("interface", "overrides", "field"),
    [
        ("tenantSync", {"vendor\x00Note": "x"}, "vendor\\u0000Note"),
        ("allOrgSync", {"orgInfoList": [{"orgCode": "root", "\x00": "x"}]}, "orgInfoList.0.\\u0000"),
    ],
)
async def test_a_nul_in_a_key_is_refused_naming_the_key(
    gateway: RunningGateway, interface: str, overrides: dict[str, Any], field: str
) -> None:
    raw = raw_json(sample_body(interface, TENANT, **overrides))
    await assert_refused(gateway, interface, raw, f"{field}: the field name {NUL_REFUSED}")


async def test_a_nul_in_the_last_department_of_a_large_full_sync_is_found(gateway: RunningGateway) -> None:
    departments = [{"orgCode": f"d{index}", "orgName": f"Department {index}"} for index in range(20_000)]
    departments[-1]["orgName"] += "\x00"
    raw = raw_json(sample_body("allOrgSync", TENANT, orgInfoList=departments))
    await assert_refused(gateway, "allOrgSync", raw, f"orgInfoList.19999.orgName: {NUL_REFUSED}")


async def test_a_literal_nul_byte_is_not_json(gateway: RunningGateway) -> None:
    raw = raw_json(sample_body("singleOrgSync", TENANT, orgName="R&D")).replace(b"R&D", b"R&D\x00")
    _, headers = gateway.sign({})  # the body is refused before its signature is checked
    status, answer = await gateway.post("singleOrgSync", raw, headers)
    assert (status, answer["resultCode"]) == (200, "000002")
    assert answer["resultMsg"].startswith("body: not valid JSON (Invalid control character")
    assert gateway.published == []


async def test_the_escape_written_out_as_text_is_accepted(gateway: RunningGateway) -> None:
    text = "R&D \\u0000"  # a backslash, then "u0000": written `\\u0000` in the raw body
    raw = raw_json(sample_body("singleOrgSync", TENANT, orgName=text))
    assert b"\\\\u0000" in raw
    raw, headers = gateway.sign(raw)
    status, answer = await gateway.post("singleOrgSync", raw, headers)
    assert (status, answer["resultCode"]) == (200, "000000"), answer
    assert [envelope.call["orgName"] for envelope in gateway.published] == [text]
