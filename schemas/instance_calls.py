"""The instance calls of SPEC §9 (the order lifecycle) and the answers' `appInfo`.

`parse_instance_call(body)` validates a body map (schemas.instance_body: every value a string) as its
`activity` and returns a frozen model; unknown fields are kept. `instance_of(call)` names the instance a
call is about: its `instanceId`, or for `newInstance` the id derived from the order line
(`derive_instance_id`), the same for every re-send, computed without asking anyone.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints, ValidationError, field_validator

from schemas.exceptions import InvalidCall


class Activity(StrEnum):
    NEW = "newInstance"
    REFRESH = "refreshInstance"
    UPDATE_STATUS = "updateInstanceStatus"
    UPGRADE = "upgradeInstance"
    RELEASE = "releaseInstance"
    QUERY = "queryInstance"


# The activities that change an instance: they become events; queryInstance is answered from Postgres.
CHANGES = frozenset(Activity) - {Activity.QUERY}
MAX_ACTIVITY_CHARS = 32
MAX_QUERY_IDS = 100
# SPEC §9 names these scenes; another one is kept as sent (its expireTime still applies).
SCENES = ("TRIAL_TO_FORMAL", "RENEWAL", "UNSUBSCRIBE_RENEWAL_PERIOD", "RENEWAL_CHANGE")
# yyyyMMddHHmmss, UTC; the platform also sends milliseconds (17 digits).
_EXPIRE_TIME = re.compile(r"[0-9]{14}(?:[0-9]{3})?")
_ID_SCHEME = "syncpipe-instance-id/1"
_HEX = re.compile(r"[0-9a-f]+")


def _expire_time(value: Any) -> Any:
    if isinstance(value, str):
        if not _EXPIRE_TIME.fullmatch(value):
            raise ValueError("expected yyyyMMddHHmmss (14 digits 0-9, or 17 with milliseconds)")
        try:
            datetime.strptime(value[:14], "%Y%m%d%H%M%S")
        except ValueError:
            raise ValueError("not a date and time (yyyyMMddHHmmss)") from None
    return value


Id64 = Annotated[str, StringConstraints(max_length=64)]
RequiredId64 = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Word32 = Annotated[str, StringConstraints(min_length=1, max_length=32)]
ExpireTime = Annotated[str, BeforeValidator(_expire_time)]


class InstanceCall(BaseModel):
    """Fields of every instance call: all strings, `testFlag` "1" marks a debug call."""

    model_config = ConfigDict(extra="allow", frozen=True)

    activity: str
    testFlag: Literal["0", "1"] = "0"

    kind: ClassVar[Activity]

    @property
    def debug(self) -> bool:
        return self.testFlag == "1"


class NewInstance(InstanceCall):
    kind: ClassVar[Activity] = Activity.NEW
    orderId: RequiredId64
    orderLineId: RequiredId64
    businessId: Id64 = ""


class RefreshInstance(InstanceCall):
    kind: ClassVar[Activity] = Activity.REFRESH
    instanceId: RequiredId64
    scene: Word32
    orderId: RequiredId64
    orderLineId: RequiredId64
    expireTime: ExpireTime
    productId: Id64 = ""


class UpdateInstanceStatus(InstanceCall):
    kind: ClassVar[Activity] = Activity.UPDATE_STATUS
    instanceId: RequiredId64
    status: Literal["FREEZE", "UNFREEZE"]


class UpgradeInstance(InstanceCall):
    kind: ClassVar[Activity] = Activity.UPGRADE
    instanceId: RequiredId64
    orderId: RequiredId64
    orderLineId: RequiredId64


class ReleaseInstance(InstanceCall):
    kind: ClassVar[Activity] = Activity.RELEASE
    instanceId: RequiredId64
    orderId: Id64 = ""
    orderLineId: Id64 = ""


class QueryInstance(InstanceCall):
    """`instanceId` holds up to MAX_QUERY_IDS ids, comma-separated (spaces around them tolerated)."""

    kind: ClassVar[Activity] = Activity.QUERY
    instanceId: str

    @field_validator("instanceId")
    @classmethod
    def _id_list(cls, value: str) -> str:
        ids = query_ids(value)
        if not ids:
            raise ValueError("no instance id")
        if len(ids) > MAX_QUERY_IDS:
            raise ValueError(f"{len(ids)} ids: at most {MAX_QUERY_IDS} per query")
        if any(len(each) > 64 for each in ids):
            raise ValueError("an id is longer than 64 characters")
        return value

    @property
    def ids(self) -> list[str]:
        return query_ids(self.instanceId)


InstanceChange = NewInstance | RefreshInstance | UpdateInstanceStatus | UpgradeInstance | ReleaseInstance
AnyInstanceCall = InstanceChange | QueryInstance

MODELS: dict[Activity, type[AnyInstanceCall]] = {
    Activity.NEW: NewInstance,
    Activity.REFRESH: RefreshInstance,
    Activity.UPDATE_STATUS: UpdateInstanceStatus,
    Activity.UPGRADE: UpgradeInstance,
    Activity.RELEASE: ReleaseInstance,
    Activity.QUERY: QueryInstance,
}


def query_ids(value: str) -> list[str]:
    """The distinct ids of a queryInstance list, in the order asked, blanks around commas trimmed."""
    return list(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))


def parse_instance_call(body: dict[str, str]) -> AnyInstanceCall:
    """Validate a body map as its activity; InvalidCall naming the first bad field."""
    activity = body.get("activity")
    if activity is None:
        raise InvalidCall("activity", "required field is missing")
    if len(activity) > MAX_ACTIVITY_CHARS:
        raise InvalidCall("activity", f"longer than {MAX_ACTIVITY_CHARS} characters")
    try:
        model = MODELS[Activity(activity)]
    except ValueError:
        known = ", ".join(Activity)
        raise InvalidCall("activity", f"unknown activity {activity!r} (one of {known})") from None
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"])
        if first["type"] == "missing":
            raise InvalidCall(field, "required field is missing") from None
        raise InvalidCall(field, first["msg"].removeprefix("Value error, ")) from None


def parse_instance_change(body: dict[str, str]) -> InstanceChange:
    """`parse_instance_call` for a call stored as an event (never a query)."""
    call = parse_instance_call(body)
    if isinstance(call, QueryInstance):
        raise InvalidCall("activity", "queryInstance is answered, never stored")
    return call


def derive_instance_id(order_id: str, order_line_id: str) -> str:
    """The instance of an order line: 28 hex characters of a hash of the pair, then 4 check characters.

    A hash, not a database sequence, so that every re-send of a newInstance (and every gateway) names
    the same instance before anything is stored. Not keyed: a secret would be one more thing whose
    rotation would silently open a second instance for a re-sent order. The check characters let the
    gateway tell an id it issued (whose newInstance may still be on its way to Postgres) from any other.
    """
    body = hashlib.sha256(f"{_ID_SCHEME}\n{json.dumps([order_id, order_line_id])}".encode()).hexdigest()[:28]
    return body + _check(body)


def issued_here(instance_id: str) -> bool:
    """Whether `instance_id` has the shape `derive_instance_id` gives (1 in 65,536 foreign ids pass)."""
    if len(instance_id) != 32 or not _HEX.fullmatch(instance_id):
        return False
    return instance_id[28:] == _check(instance_id[:28])


def _check(body: str) -> str:
    return hashlib.sha256(f"{_ID_SCHEME}/check\n{body}".encode()).hexdigest()[:4]


def instance_of(call: InstanceChange) -> str:
    if isinstance(call, NewInstance):
        return derive_instance_id(call.orderId, call.orderLineId)
    return call.instanceId


class AppInfo(BaseModel):
    """What the merchant's product tells the platform about a ready instance (queryInstance's `appInfo`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frontEndUrl: Annotated[str, StringConstraints(min_length=1, max_length=2048)]
    adminUrl: Annotated[str, StringConstraints(max_length=2048)] = ""
    userName: Annotated[str, StringConstraints(max_length=255)] = ""
    password: Annotated[str, StringConstraints(max_length=255)] = ""
    memo: Annotated[str, StringConstraints(max_length=2048)] = ""

    @field_validator("*")
    @classmethod
    def _storable(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("contains a NUL character, which cannot be stored")
        return value
