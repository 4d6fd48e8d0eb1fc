"""The five calls: what real senders do is tolerated, the contract is enforced, and event ids are stable."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.calls import (
    AllOrgSync,
    AuthSync,
    Interface,
    SingleOrgSync,
    normalised_body,
    parse_call,
)
from schemas.envelope import EventEnvelope
from schemas.event_id import event_id
from schemas.exceptions import InvalidCall
from schemas.storable import MAX_NESTING
from tests.gateway.platform import DROP, sample_body

TENANT = "t-calls"
ORGS = [
    {"orgCode": "root", "orgName": "ACME", "parentCode": ""},
    {"orgCode": "rnd", "orgName": "R&D", "parentCode": "root"},
]


def all_org_sync(**overrides: Any) -> AllOrgSync:
    call = parse_call(Interface.ALL_ORG_SYNC, sample_body("allOrgSync", TENANT, **overrides))
    assert isinstance(call, AllOrgSync)
    return call


def user(**fields: Any) -> dict[str, Any]:
    call = parse_call(Interface.AUTH_SYNC, sample_body("authSync", TENANT, userList=[{"userName": "ada", **fields}]))
    assert isinstance(call, AuthSync)
    return call.userList[0].model_dump(exclude_none=True)


# --- tolerance --------------------------------------------------------------------------------------------


def test_an_org_list_sent_as_a_json_string_is_read_as_the_list() -> None:
    as_string = all_org_sync(orgInfoList=json.dumps(ORGS))
    assert [org.orgCode for org in as_string.orgInfoList] == ["root", "rnd"]
    assert event_id(as_string) == event_id(all_org_sync(orgInfoList=ORGS))


def test_a_key_in_another_case_is_read_as_the_field() -> None:
    orgs = [{"OrgCode": "root", "OrgName": "ACME", "PARENTCODE": ""}]
    call = all_org_sync(orgInfoList=orgs)
    assert call.orgInfoList[0].model_dump() == {"orgCode": "root", "orgName": "ACME", "parentCode": ""}
    single = parse_call("singleOrgSync", {**sample_body("singleOrgSync", TENANT, orgName=DROP), "OrgName": "R&D"})
    assert isinstance(single, SingleOrgSync)
    assert single.orgName == "R&D"


def test_an_exact_key_wins_over_a_twin_in_another_case() -> None:
    call = all_org_sync(orgInfoList=[{"orgCode": "root", "orgName": "exact", "OrgName": "twin"}])
    assert call.orgInfoList[0].orgName == "exact"
    assert call.orgInfoList[0].model_extra == {"OrgName": "twin"}


def test_a_stray_flag_on_a_full_sync_is_accepted_and_kept() -> None:
    call = all_org_sync(flag=1)
    assert normalised_body(call)["flag"] == 1


def test_unknown_fields_are_kept_at_every_level() -> None:
    call = all_org_sync(vendorNote={"z": 1, "a": [None, 2]}, orgInfoList=[{**ORGS[0], "manager": "ada"}])
    body = normalised_body(call)
    assert body["vendorNote"] == {"z": 1, "a": [None, 2]}
    assert body["orgInfoList"][0]["manager"] == "ada"


def test_the_legacy_extension_object_is_lifted() -> None:
    lifted = user(extension={"email": "ada@example.com", "workPlace": "Berlin", "entryDate": "2020-01-01"})
    assert (lifted["email"], lifted["workPlace"], lifted["entryDate"]) == ("ada@example.com", "Berlin", "2020-01-01")


def test_a_top_level_field_wins_over_the_extension() -> None:
    assert user(email="new@example.com", extension={"email": "old@example.com"})["email"] == "new@example.com"


@pytest.mark.parametrize(("sent", "read"), [("true", True), ("false", False), ("TRUE", True), (True, True)])
def test_enable_is_read_from_its_strings(sent: Any, read: bool) -> None:
    assert user(enable=sent)["enable"] is read


def test_null_optional_values_are_read_as_empty() -> None:
    call = parse_call("singleOrgSync", sample_body("singleOrgSync", TENANT, parentCode=None, instanceId=None))
    assert isinstance(call, SingleOrgSync)
    assert (call.parentCode, call.instanceId) == ("", "")


# --- the contract -----------------------------------------------------------------------------------------

REQUIRED = {
    "tenantSync": ["tenantId", "timeStamp", "flag"],
    "applicationSync": ["tenantId", "timeStamp", "appId", "flag"],
    "authSync": ["tenantId", "timeStamp", "appId", "userList", "flag"],
    "singleOrgSync": ["tenantId", "timeStamp", "orgCode", "flag"],
    "allOrgSync": ["tenantId", "timeStamp", "orgInfoList"],
}


@pytest.mark.parametrize(
    ("interface", "field"), [(interface, field) for interface, fields in REQUIRED.items() for field in fields]
)
def test_a_missing_required_field_is_named(interface: str, field: str) -> None:
    with pytest.raises(InvalidCall) as refused:
        parse_call(interface, sample_body(interface, TENANT, **{field: DROP}))
    assert (refused.value.field, refused.value.reason) == (field, "required field is missing")


def test_every_sample_body_is_valid() -> None:
    for interface in REQUIRED:
        parse_call(interface, sample_body(interface, TENANT))


@pytest.mark.parametrize(
    ("interface", "field", "limit"),
    [
        ("tenantSync", "tenantId", 64),
        ("tenantSync", "instanceId", 64),
        ("tenantSync", "name", 255),
        ("tenantSync", "domainName", 255),
        ("applicationSync", "appId", 64),
        ("singleOrgSync", "orgCode", 64),
        ("singleOrgSync", "orgName", 128),
        ("singleOrgSync", "parentCode", 64),
    ],
)
def test_a_length_limit_is_enforced_exactly(interface: str, field: str, limit: int) -> None:
    parse_call(interface, sample_body(interface, TENANT, **{field: "x" * limit}))
    with pytest.raises(InvalidCall) as refused:
        parse_call(interface, sample_body(interface, TENANT, **{field: "x" * (limit + 1)}))
    assert refused.value.field == field
    assert str(limit) in refused.value.reason


def test_an_org_name_inside_the_list_is_limited_and_named() -> None:
    with pytest.raises(InvalidCall) as refused:
        all_org_sync(orgInfoList=[ORGS[0], {"orgCode": "rnd", "orgName": "x" * 129}])
    assert refused.value.field == "orgInfoList.1.orgName"


def test_a_user_list_holds_at_most_500_users() -> None:
    users = [{"userName": f"u{index}"} for index in range(501)]
    parse_call("authSync", sample_body("authSync", TENANT, userList=users[:500]))
    with pytest.raises(InvalidCall) as refused:
        parse_call("authSync", sample_body("authSync", TENANT, userList=users))
    assert refused.value.field == "userList"


@pytest.mark.parametrize(
    ("interface", "field", "value"),
    [
        ("tenantSync", "tenantId", 7),
        ("tenantSync", "testFlag", "0"),
        ("tenantSync", "testFlag", 2),
        ("tenantSync", "flag", 3),
        ("tenantSync", "timeStamp", "20260105"),
        ("authSync", "flag", 4),
        ("authSync", "currentSyncTime", "yesterday"),
        ("authSync", "userList", {"userName": "ada"}),
        ("allOrgSync", "orgInfoList", "not a list"),
    ],
)
def test_a_wrong_type_is_named(interface: str, field: str, value: Any) -> None:
    with pytest.raises(InvalidCall) as refused:
        parse_call(interface, sample_body(interface, TENANT, **{field: value}))
    assert refused.value.field == field


def test_an_unknown_interface_or_a_body_that_is_no_object_is_refused() -> None:
    with pytest.raises(InvalidCall) as refused:
        parse_call("orgSync", {})
    assert refused.value.field == "interface"
    with pytest.raises(InvalidCall):
        parse_call("tenantSync", [sample_body("tenantSync", TENANT)])


# --- NUL characters: Postgres can store none, so a call holding one anywhere is refused ------------------

NUL_REFUSED = "contains a NUL character (\\u0000), which cannot be stored"
NAME_REFUSED = f"the field name {NUL_REFUSED}"
TOO_DEEP = f"nested too deeply (more than {MAX_NESTING} levels of objects and lists)"


@pytest.mark.parametrize(
    ("interface", "overrides", "field"),
    [
        ("singleOrgSync", {"orgName": "R&D\x00"}, "orgName"),
        ("tenantSync", {"tenantId": "\x00"}, "tenantId"),
        ("tenantSync", {"timeStamp": "20260105093000123\x00"}, "timeStamp"),
        ("applicationSync", {"clientSecret": "c2VjcmV0\x00"}, "clientSecret"),
        ("allOrgSync", {"orgInfoList": [ORGS[0], {**ORGS[1], "parentCode": "ro\x00ot"}]}, "orgInfoList.1.parentCode"),
        (
            "allOrgSync",
            {"orgInfoList": json.dumps([ORGS[0], {**ORGS[1], "orgName": "R&D\x00"}])},
            "orgInfoList.1.orgName",
        ),
        (
            "allOrgSync",
            {"orgInfoList": [ORGS[0], {**ORGS[1], "manager": {"names": ["ada", "\x00"]}}]},
            "orgInfoList.1.manager.names.1",
        ),
        (
            "authSync",
            {"userList": [{"userName": "ada", "extension": {"workPlace": "Berlin\x00"}}]},
            "userList.0.extension.workPlace",
        ),
        ("tenantSync", {"vendorNote": "\x00"}, "vendorNote"),
        ("tenantSync", {"vendorNote": {"z": [None, 2, {"a": "x\x00"}]}}, "vendorNote.z.2.a"),
    ],
)
def test_a_nul_in_any_string_is_refused_naming_the_field(interface: str, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidCall) as refused:
        parse_call(interface, sample_body(interface, TENANT, **overrides))
    assert (refused.value.field, refused.value.reason) == (field, NUL_REFUSED)
    assert str(refused.value) == f"{field}: {NUL_REFUSED}"


@pytest.mark.parametrize(
    ("interface", "overrides", "field"),
    [
        ("tenantSync", {"vendor\x00Note": "x"}, "vendor\\u0000Note"),
        ("tenantSync", {"vendorNote": {"a\x00": 1}}, "vendorNote.a\\u0000"),
        ("allOrgSync", {"orgInfoList": [ORGS[0], {**ORGS[1], "org\x00Name": "R&D"}]}, "orgInfoList.1.org\\u0000Name"),
        ("authSync", {"userList": [{"userName": "ada", "extension": {"\x00": "x"}}]}, "userList.0.extension.\\u0000"),
    ],
)
def test_a_nul_in_a_key_is_refused_naming_the_key(interface: str, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidCall) as refused:
        parse_call(interface, sample_body(interface, TENANT, **overrides))
    assert (refused.value.field, refused.value.reason) == (field, NAME_REFUSED)
    assert "\x00" not in str(refused.value)  # the message is logged and stored: it must itself be storable


def test_a_long_key_is_cut_short_in_the_field_name() -> None:
    with pytest.raises(InvalidCall) as refused:
        parse_call("tenantSync", sample_body("tenantSync", TENANT, **{"k" * 10_000: {"\x00" * 10_000: 1}}))
    assert refused.value.field == "k" * 64 + "…." + "\\u0000" * 10 + "\\u00…"


def test_a_nul_nested_as_deep_as_a_call_may_be_is_found() -> None:
    levels = MAX_NESTING - 1  # below the body itself
    deep = json.loads("[" * levels + '"\\u0000"' + "]" * levels)
    with pytest.raises(InvalidCall) as refused:
        parse_call("tenantSync", sample_body("tenantSync", TENANT, vendorNote=deep))
    assert refused.value.field == "vendorNote" + ".0" * levels


def test_a_nul_deeper_than_a_call_may_be_is_refused_as_nested_too_deeply() -> None:
    deep = json.loads("[" * 900 + '"\\u0000"' + "]" * 900)
    with pytest.raises(InvalidCall) as refused:
        parse_call("tenantSync", sample_body("tenantSync", TENANT, vendorNote=deep))
    assert (refused.value.field, refused.value.reason) == ("vendorNote.0.0…", TOO_DEEP)


def test_the_text_of_the_escape_is_not_a_nul() -> None:
    text = "\\u0000 and \\x00 written out"
    call = parse_call("singleOrgSync", sample_body("singleOrgSync", TENANT, orgName=text, vendorNote={text: text}))
    assert normalised_body(call)["orgName"] == text


def test_a_literal_nul_is_already_invalid_json() -> None:
    """Raw JSON can carry NUL only as an escape: the decoder refuses the character itself in a string."""
    with pytest.raises(json.JSONDecodeError, match="Invalid control character"):
        json.loads(b'{"orgName": "R&D\x00"}')
    assert json.loads(b'{"orgName": "R&D\\u0000"}') == {"orgName": "R&D\x00"}


def test_a_stored_event_holding_a_nul_is_refused_when_validated_again() -> None:
    """A worker validates every event again, so an event accepted before this check is refused there too."""
    accepted = EventEnvelope.from_call(
        parse_call("singleOrgSync", sample_body("singleOrgSync", TENANT)), datetime.now(UTC)
    )
    stored = accepted.model_copy(update={"call": {**accepted.call, "orgName": "R&D\x00"}})
    with pytest.raises(InvalidCall, match=r"^orgName: contains a NUL"):
        stored.parsed_call()


# --- event identity ---------------------------------------------------------------------------------------


def reparsed(interface: str, text: str) -> str:
    return event_id(parse_call(interface, json.loads(text)))


@pytest.mark.parametrize("interface", list(REQUIRED))
def test_the_event_id_ignores_whitespace_key_order_and_key_case(interface: str) -> None:
    body = sample_body(interface, TENANT)
    compact = json.dumps(body, separators=(",", ":"))
    spaced_and_reversed = json.dumps(
        {key: _reverse_nested(value) for key, value in reversed(body.items())}, indent=4, ensure_ascii=False
    )
    other_case = json.dumps({_flip_case(key): value for key, value in body.items()})
    ids = {reparsed(interface, compact), reparsed(interface, spaced_and_reversed), reparsed(interface, other_case)}
    assert len(ids) == 1
    assert len(ids.pop()) == 32


@pytest.mark.parametrize(
    ("interface", "change"),
    [
        ("tenantSync", {"name": "ACME Ltd"}),
        ("tenantSync", {"flag": 2}),
        ("tenantSync", {"testFlag": 1}),
        ("tenantSync", {"timeStamp": "20260105093000124"}),
        ("tenantSync", {"tenantId": "t-other"}),
        ("tenantSync", {"vendorNote": "x"}),
        ("authSync", {"userList": [{"userName": "ada", "role": "user"}]}),
        ("allOrgSync", {"orgInfoList": [{"orgCode": "root", "orgName": "ACME", "parentCode": ""}]}),
    ],
)
def test_different_content_gets_a_different_event_id(interface: str, change: dict[str, Any]) -> None:
    original = parse_call(interface, sample_body(interface, TENANT))
    changed = parse_call(interface, sample_body(interface, TENANT, **change))
    assert event_id(original) != event_id(changed)


def test_the_same_body_on_another_interface_gets_another_event_id() -> None:
    body = {**sample_body("singleOrgSync", TENANT), "orgInfoList": ORGS}
    assert event_id(parse_call("singleOrgSync", body)) != event_id(parse_call("allOrgSync", body))


def _flip_case(key: str) -> str:
    return key[0].swapcase() + key[1:]


def _reverse_nested(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _reverse_nested(inner) for key, inner in reversed(value.items())}
    if isinstance(value, list):
        return [_reverse_nested(item) for item in value]
    return value
