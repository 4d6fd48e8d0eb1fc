"""One instance's state (SPEC §9): the changes the platform sent for it, and what they add up to.

An instance is a handful of calls over its life (bought, renewed, frozen, upgraded, released), so its
state keeps them all: `changes`, a grow-only set of the distinct production calls, each with its
version (the time the platform signed it). Everything else is derived from that set by `derive`, in
version order, so the result cannot depend on the order the calls arrived in, nor on duplicates —
the convergence property, by construction. What a log buys over one register per field: a release
that arrives late still cuts off exactly the calls signed after it, with nothing to undo.

What the set adds up to (`InstanceFacts`), version order, ties broken by event id:
 - opened: a newInstance arrived (before it, the instance only gathers calls: status `waiting`);
 - released at the first releaseInstance: final, every later change is cut off (its newInstance
   aside, which only names the order that opened it);
 - of the calls up to the release, the latest of each kind writes its fields: the order (any call
   naming one; the opening order when none does), expireTime/scene (refreshInstance), productId
   (a refreshInstance naming one), frozen (updateInstanceStatus); `orders` gathers every order named.
The merchant's side is apart from the platform's calls: `app_info`, set by the merchant's application
(or the ready template) makes an opened instance ready.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from schemas.instance_calls import (
    Activity,
    AppInfo,
    InstanceChange,
    NewInstance,
    RefreshInstance,
    ReleaseInstance,
    UpdateInstanceStatus,
    UpgradeInstance,
)

Order = tuple[str, str]  # (orderId, orderLineId)


class InstanceStatus(StrEnum):
    WAITING = "waiting"  # calls arrived before its newInstance
    PROVISIONING = "provisioning"
    READY = "ready"
    FROZEN = "frozen"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class LoggedChange:
    """One production call, as much of it as the state needs; the rest is archived with its event."""

    event_id: str
    version: datetime
    activity: Activity
    order_id: str = ""
    order_line_id: str = ""
    expire_time: str = ""
    scene: str = ""
    product_id: str = ""
    freeze: bool = False

    @classmethod
    def of(cls, event_id: str, version: datetime, call: InstanceChange) -> LoggedChange:
        match call:
            case NewInstance() | UpgradeInstance() | ReleaseInstance():
                return cls(event_id, version, call.kind, call.orderId, call.orderLineId)
            case RefreshInstance():
                order = (call.orderId, call.orderLineId)
                return cls(event_id, version, call.kind, *order, call.expireTime, call.scene, call.productId)
            case UpdateInstanceStatus():
                return cls(event_id, version, call.kind, freeze=call.status == "FREEZE")

    @property
    def key(self) -> tuple[datetime, str]:
        return self.version, self.event_id

    @property
    def order(self) -> Order | None:
        return (self.order_id, self.order_line_id) if self.order_id else None

    def to_json(self) -> dict[str, Any]:
        return {
            "eventId": self.event_id,
            "version": self.version.isoformat(),
            "activity": self.activity.value,
            "orderId": self.order_id,
            "orderLineId": self.order_line_id,
            "expireTime": self.expire_time,
            "scene": self.scene,
            "productId": self.product_id,
            "freeze": self.freeze,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoggedChange:
        return cls(
            data["eventId"],
            datetime.fromisoformat(data["version"]),
            Activity(data["activity"]),
            data["orderId"],
            data["orderLineId"],
            data["expireTime"],
            data["scene"],
            data["productId"],
            data["freeze"],
        )


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    """What an instance's changes add up to; `writers`: the changes that decide some of it."""

    opened: bool = False
    released_at: datetime | None = None
    frozen: bool = False
    order: Order | None = None
    orders: tuple[Order, ...] = ()
    expire_time: str = ""
    scene: str = ""
    product_id: str = ""
    version: datetime | None = None  # of the newest change that counts
    writers: frozenset[str] = frozenset()


def derive(changes: Iterable[LoggedChange]) -> InstanceFacts:
    """The facts of a set of changes (see the module docstring); the same for any order of `changes`."""
    ordered = sorted(changes, key=lambda change: change.key)
    opener = next((change for change in ordered if change.activity is Activity.NEW), None)
    release = next((change for change in ordered if change.activity is Activity.RELEASE), None)
    counted = [change for change in ordered if release is None or change.key <= release.key]
    latest: dict[str, LoggedChange] = {}
    for change in counted:
        if change.order is not None:
            latest["order"] = change
        if change.activity is Activity.REFRESH:
            latest["expire"] = change
            if change.product_id:
                latest["product"] = change
        elif change.activity is Activity.UPDATE_STATUS:
            latest["status"] = change
    orders = {change.order for change in counted if change.order is not None}
    if opener is not None and opener.order is not None:
        orders.add(opener.order)
    deciding = {change.event_id for change in (*latest.values(), opener, release) if change is not None}
    return InstanceFacts(
        opened=opener is not None,
        released_at=release.version if release else None,
        frozen="status" in latest and latest["status"].freeze,
        order=latest["order"].order if "order" in latest else (opener.order if opener else None),
        orders=tuple(sorted(orders)),
        expire_time=latest["expire"].expire_time if "expire" in latest else "",
        scene=latest["expire"].scene if "expire" in latest else "",
        product_id=latest["product"].product_id if "product" in latest else "",
        version=counted[-1].version if counted else None,
        writers=frozenset(deciding),
    )


def status_of(facts: InstanceFacts, ready: bool) -> InstanceStatus:
    if not facts.opened:
        return InstanceStatus.WAITING
    if facts.released_at is not None:
        return InstanceStatus.RELEASED
    if not ready:
        return InstanceStatus.PROVISIONING
    return InstanceStatus.FROZEN if facts.frozen else InstanceStatus.READY


@dataclass
class InstanceState:
    """One instance as a unit of work: loaded, changed by the rules, saved back if `changed`."""

    instance_id: str
    changes: dict[str, LoggedChange] = field(default_factory=dict)  # by event id
    app_info: AppInfo | None = None
    ready_at: datetime | None = None
    changed: bool = False
    _facts: InstanceFacts | None = None

    def add(self, change: LoggedChange) -> None:
        self.changes[change.event_id] = change
        self.changed = True
        self._facts = None

    def set_app_info(self, app_info: AppInfo, at: datetime) -> None:
        self.app_info = app_info
        self.ready_at = self.ready_at or at
        self.changed = True

    @property
    def facts(self) -> InstanceFacts:
        if self._facts is None:
            self._facts = derive(self.changes.values())
        return self._facts

    @property
    def status(self) -> InstanceStatus:
        return status_of(self.facts, self.app_info is not None)
