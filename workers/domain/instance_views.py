"""An instance as the read API serves it (and as the gateway answers the platform's queryInstance)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.instance_calls import AppInfo
from workers.domain.instance_state import InstanceState


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def render_app_info(app_info: AppInfo | None) -> dict[str, Any] | None:
    """For the merchant's own applications and operators: never the password, only whether one is set."""
    if app_info is None:
        return None
    shown = app_info.model_dump(exclude={"password"})
    return {**shown, "passwordSet": bool(app_info.password)}


def render_instance(state: InstanceState) -> dict[str, Any]:
    facts = state.facts
    order_id, order_line_id = facts.order or ("", "")
    return {
        "instanceId": state.instance_id,
        "status": state.status.value,
        "orderId": order_id,
        "orderLineId": order_line_id,
        "orders": [{"orderId": order, "orderLineId": line} for order, line in facts.orders],
        "expireTime": facts.expire_time,
        "scene": facts.scene,
        "productId": facts.product_id,
        "frozen": facts.frozen,
        "releasedAt": _iso(facts.released_at),
        "lastChangeAt": _iso(facts.version),
        "changes": len(state.changes),
        "appInfo": render_app_info(state.app_info),
        "readyAt": _iso(state.ready_at),
    }
