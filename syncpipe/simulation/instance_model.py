"""The reference model of SPEC §9: the state every instance must converge to.

Deliberately naive, so that it can be trusted by reading it: drop duplicate calls (same event id) and
debug calls (`testFlag` "1"), sort the rest by the time the platform signed them (ties by event id, as
the pipeline breaks them), and apply them one by one to a plain record per instance:

- `newInstance` opens the instance and names its order (the order stays named even if it comes after
  the release);
- once released, nothing but a `newInstance` is looked at any more;
- `refreshInstance` sets expireTime and scene, productId when it names one, and the order;
- `updateInstanceStatus` freezes or unfreezes; `upgradeInstance` sets the order;
- `releaseInstance` sets the order when it names one, and releases.

The status: `waiting` without a newInstance, then `released`, else `provisioning` until the merchant
gave its appInfo (`ready`), then `frozen` or `ready`. `served_instance` reads the read API's answer for
`GET /v1/instances/{id}` into the same shape.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

from schemas.instance_calls import (
    InstanceChange,
    NewInstance,
    RefreshInstance,
    ReleaseInstance,
    UpdateInstanceStatus,
    UpgradeInstance,
    instance_of,
)
from schemas.instance_envelope import instance_event_id


class SignedCall(NamedTuple):
    """An instance call as the gateway accepted it: the call and the time it was signed (Unix ms)."""

    call: InstanceChange
    signed_at_ms: int

    @property
    def event_id(self) -> str:
        return instance_event_id(self.call, self.signed_at_ms)


@dataclass(frozen=True)
class InstanceSnapshot:
    """What the read API serves of one instance that the platform's calls decide."""

    status: str
    orderId: str = ""
    orderLineId: str = ""
    orders: tuple[tuple[str, str], ...] = ()
    expireTime: str = ""
    scene: str = ""
    productId: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Instance:
    opened: bool = False
    released: bool = False
    frozen: bool = False
    order: tuple[str, str] | None = None
    opening_order: tuple[str, str] | None = None
    orders: set[tuple[str, str]] = field(default_factory=set)
    expire_time: str = ""
    scene: str = ""
    product_id: str = ""

    def name_order(self, order_id: str, order_line_id: str) -> None:
        if order_id:
            self.order = (order_id, order_line_id)
            self.orders.add(self.order)

    def snapshot(self, ready: bool) -> InstanceSnapshot:
        if not self.opened:
            status = "waiting"
        elif self.released:
            status = "released"
        elif not ready:
            status = "provisioning"
        else:
            status = "frozen" if self.frozen else "ready"
        order_id, order_line_id = self.order or self.opening_order or ("", "")
        return InstanceSnapshot(
            status, order_id, order_line_id, tuple(sorted(self.orders)), self.expire_time, self.scene, self.product_id
        )


def expected_instances(calls: Iterable[SignedCall], ready: Collection[str] = ()) -> dict[str, InstanceSnapshot]:
    """The converged snapshot of every instance a distinct production call names; `ready`: the
    instances the merchant gave an appInfo."""
    distinct: dict[str, SignedCall] = {}
    for signed in calls:
        if not signed.call.debug:
            distinct.setdefault(signed.event_id, signed)
    instances: dict[str, _Instance] = {}
    for signed in sorted(distinct.values(), key=lambda each: (each.signed_at_ms, each.event_id)):
        _apply(instances.setdefault(instance_of(signed.call), _Instance()), signed.call)
    return {instance_id: state.snapshot(instance_id in ready) for instance_id, state in instances.items()}


def _apply(state: _Instance, call: InstanceChange) -> None:
    if isinstance(call, NewInstance):
        state.opened = True
        state.opening_order = (call.orderId, call.orderLineId)
        state.orders.add(state.opening_order)
        if not state.released:
            state.order = state.opening_order
        return
    if state.released:
        return
    match call:
        case RefreshInstance():
            state.expire_time, state.scene = call.expireTime, call.scene
            state.product_id = call.productId or state.product_id
            state.name_order(call.orderId, call.orderLineId)
        case UpdateInstanceStatus():
            state.frozen = call.status == "FREEZE"
        case UpgradeInstance():
            state.name_order(call.orderId, call.orderLineId)
        case ReleaseInstance():
            state.name_order(call.orderId, call.orderLineId)
            state.released = True


def served_instance(answer: dict[str, Any]) -> InstanceSnapshot:
    """The model's shape of the read API's `GET /v1/instances/{id}` answer."""
    return InstanceSnapshot(
        status=answer["status"],
        orderId=answer["orderId"],
        orderLineId=answer["orderLineId"],
        orders=tuple(sorted((order["orderId"], order["orderLineId"]) for order in answer["orders"])),
        expireTime=answer["expireTime"],
        scene=answer["scene"],
        productId=answer["productId"],
    )
