"""The five sync calls of SPEC §1, with the tolerance real senders need.

`parse_call(interface, body)` is the single entry point: it normalises the body (key case,
string-encoded lists, the legacy `extension` object), validates lengths, types and required fields,
and returns a frozen model. Unknown fields are kept (`extra="allow"`), never rejected. No string
anywhere in a call, nor any key, may hold a NUL character, and no call may nest objects and lists
deeper than MAX_NESTING levels: Postgres, or the event's Kafka record, could never store the call
(schemas.storable).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas import strict_json
from schemas.exceptions import InvalidCall
from schemas.storable import TOO_DEEP_REASON, refuse_unstorable
from schemas.timestamps import parse_platform_time


class Interface(StrEnum):
    TENANT_SYNC = "tenantSync"
    APPLICATION_SYNC = "applicationSync"
    AUTH_SYNC = "authSync"
    SINGLE_ORG_SYNC = "singleOrgSync"
    ALL_ORG_SYNC = "allOrgSync"


class Flag(IntEnum):
    DELETE = 0
    ADD = 1
    MODIFY = 2
    REVOKE = 3  # authSync only


def _platform_time(value: Any) -> Any:
    if isinstance(value, str):
        parse_platform_time(value)
    return value


Id64 = Annotated[str, StringConstraints(max_length=64)]
RequiredId64 = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text255 = Annotated[str, StringConstraints(max_length=255)]
Text128 = Annotated[str, StringConstraints(max_length=128)]
PlatformTime = Annotated[str, BeforeValidator(_platform_time)]


def _match_key_case(data: Any, fields: frozenset[str], by_lower: dict[str, str] | None = None) -> Any:
    """Rename keys that differ from a known field only by case (`OrgName` -> `orgName`).

    An exact key always wins; a differently-cased twin of a key that is present stays as an
    unknown field. `by_lower` (lower-cased field name -> field name) may be passed precomputed.
    """
    if not isinstance(data, dict):
        return data
    if by_lower is None:
        by_lower = {name.lower(): name for name in fields}
    # Fast paths (nearly every object, and 100k of them in a large allOrgSync): no key to rename.
    if fields.issuperset(data):
        return data
    if all(key in fields or not isinstance(key, str) or key.lower() not in by_lower for key in data):
        return data
    renamed: dict[str, Any] = {}
    for key, value in data.items():
        target = by_lower.get(key.lower()) if isinstance(key, str) else None
        if target is not None and target != key and target not in data and target not in renamed:
            renamed[target] = value
        else:
            renamed[key] = value
    return renamed


# Per model class: its field names, and lower-cased name -> name (built once, not per object).
_KEY_CASES: dict[type, tuple[frozenset[str], dict[str, str]]] = {}


def _model_key_case(model: type[BaseModel], data: Any) -> Any:
    known = _KEY_CASES.get(model)
    if known is None:
        fields = frozenset(model.model_fields)
        known = _KEY_CASES[model] = (fields, {name.lower(): name for name in fields})
    return _match_key_case(data, *known)


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _tolerate_key_case(cls, data: Any) -> Any:
        return _model_key_case(cls, data)


class UserEntry(_Model):
    userName: RequiredId64
    name: Text255 = ""
    orgCode: Id64 = ""
    role: Literal["user", "admin"] = "user"
    enable: bool = True
    position: Text255 | None = None
    employeeCode: Id64 | None = None
    employeeType: Annotated[StrictInt, Field(ge=1, le=4)] | None = None
    mobile: Id64 | None = None
    email: Text255 | None = None
    workPlace: Text255 | None = None
    entryDate: Id64 | None = None

    @model_validator(mode="before")
    @classmethod
    def _lift_extension(cls, data: Any) -> Any:
        """Older senders nest email, workPlace and entryDate inside `extension`."""
        if isinstance(data, dict) and isinstance(data.get("extension"), dict):
            data = dict(data)
            for name in ("email", "workPlace", "entryDate"):
                if data.get(name) is None and name in data["extension"]:
                    data[name] = data["extension"][name]
        return data

    @field_validator("enable", mode="before")
    @classmethod
    def _enable_string(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if isinstance(value, bool):
            return value
        raise ValueError('expected "true" or "false"')


class OrgInfo(_Model):
    orgCode: RequiredId64
    orgName: Text128 = ""
    parentCode: Id64 = ""

    @model_validator(mode="before")
    @classmethod
    def _tolerate_key_case(cls, data: Any) -> Any:
        """Key case as for every object, and a null `parentCode` read as top level ("").

        One validator where a field validator would make two calls into Python per department:
        a large `allOrgSync` validates 100k of these.
        """
        data = _model_key_case(cls, data)
        if isinstance(data, dict) and "parentCode" in data and data["parentCode"] is None:
            data = {**data, "parentCode": ""}
        return data


class SyncCall(_Model):
    """Fields in every body."""

    instanceId: Id64 = ""
    tenantId: RequiredId64
    testFlag: Literal[0, 1] = 0
    timeStamp: PlatformTime

    @field_validator("testFlag", mode="before")
    @classmethod
    def _strict_test_flag(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("expected the integer 0 or 1")
        return value

    @field_validator("instanceId", mode="before")
    @classmethod
    def _null_instance(cls, value: Any) -> Any:
        return "" if value is None else value

    interface: ClassVar[Interface]


class TenantSync(SyncCall):
    interface: ClassVar[Interface] = Interface.TENANT_SYNC
    orderId: Id64 = ""
    tenantCode: Id64 = ""
    name: Text255 = ""
    domainName: Text255 = ""
    flag: Literal[0, 1, 2]


class ApplicationSync(SyncCall):
    interface: ClassVar[Interface] = Interface.APPLICATION_SYNC
    appId: RequiredId64
    clientId: Text255 = ""
    clientSecret: Annotated[str, StringConstraints(max_length=4096)] = ""
    flag: Literal[0, 1, 2]


class AuthSync(SyncCall):
    interface: ClassVar[Interface] = Interface.AUTH_SYNC
    appId: RequiredId64
    userList: Annotated[list[UserEntry], Field(max_length=500)]
    currentSyncTime: PlatformTime | None = None
    flag: Literal[0, 1, 2, 3]


class SingleOrgSync(SyncCall):
    interface: ClassVar[Interface] = Interface.SINGLE_ORG_SYNC
    orgCode: RequiredId64
    orgName: Text128 = ""
    parentCode: Id64 = ""
    flag: Literal[0, 1, 2]

    @field_validator("parentCode", mode="before")
    @classmethod
    def _null_parent(cls, value: Any) -> Any:
        return "" if value is None else value


class AllOrgSync(SyncCall):
    interface: ClassVar[Interface] = Interface.ALL_ORG_SYNC
    orgInfoList: list[OrgInfo]

    @field_validator("orgInfoList", mode="before")
    @classmethod
    def _string_encoded_list(cls, value: Any) -> Any:
        """Some senders put the list in a JSON string: decoded as strictly as the gateway decodes a body."""
        if isinstance(value, str):
            decoded = _decode_list_string(value)
            # The escape `\u0000` inside this string only becomes a NUL here, after parse_call's check.
            # InvalidCall passes through pydantic as it is (only ValueError and AssertionError become
            # validation errors), so the field is named as in a list that was sent as a list.
            if isinstance(decoded, (dict, list)):
                refuse_unstorable(decoded, prefix=("orgInfoList",), level=2)
            return decoded
        return value


def _decode_list_string(value: str) -> Any:
    """`value` decoded as JSON; ValueError for what the gateway refuses in a body (schemas.strict_json)."""
    try:
        return strict_json.loads(value)
    except strict_json.NestedTooDeeply:
        raise ValueError(TOO_DEEP_REASON) from None
    except strict_json.NotJson as exc:
        raise ValueError(f"string is not a JSON list ({exc})") from None


AnyCall = TenantSync | ApplicationSync | AuthSync | SingleOrgSync | AllOrgSync

CALL_MODELS: dict[Interface, type[AnyCall]] = {
    Interface.TENANT_SYNC: TenantSync,
    Interface.APPLICATION_SYNC: ApplicationSync,
    Interface.AUTH_SYNC: AuthSync,
    Interface.SINGLE_ORG_SYNC: SingleOrgSync,
    Interface.ALL_ORG_SYNC: AllOrgSync,
}


def _describe(error: ValidationError) -> InvalidCall:
    first = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"])
    if first["type"] == "missing":
        return InvalidCall(field, "required field is missing")
    message = first["msg"].removeprefix("Value error, ")
    return InvalidCall(field, message)


def parse_call(interface: Interface | str, body: Any) -> AnyCall:
    """Validate a decoded JSON body as `interface`; raise InvalidCall naming the first bad field.

    A NUL character anywhere in the body, or nesting deeper than MAX_NESTING, is refused before the
    fields are validated (`schemas.storable.refuse_unstorable`).
    """
    try:
        model = CALL_MODELS[Interface(interface)]
    except ValueError:
        raise InvalidCall("interface", f"unknown interface {interface!r}") from None
    if not isinstance(body, dict):
        raise InvalidCall("", "body must be a JSON object")
    refuse_unstorable(body)
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise _describe(exc) from None


def normalised_body(call: AnyCall) -> dict[str, Any]:
    """The call as plain JSON data after tolerance rules; unknown fields included, unset optionals dropped."""
    return call.model_dump(mode="json", exclude_none=True)
