"""Order lifecycles the marketplace plays with the merchant's instances (SPEC §9), deterministic from a seed.

Each instance is bought (newInstance for an order line), provisioned by the merchant, then lives: the
trial becomes formal, it is renewed, its renewal cancelled or changed, it is frozen and unfrozen,
upgraded to another order, and sometimes released. The platform's habits are in too: calls that arrive
before their newInstance, re-sends (signed again, later), debug calls (`testFlag` "1") of every
activity, and now and then a late freeze of an instance already released.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field

from schemas.instance_calls import derive_instance_id

Body = dict[str, str]
SCENES = ("TRIAL_TO_FORMAL", "RENEWAL", "UNSUBSCRIBE_RENEWAL_PERIOD", "RENEWAL_CHANGE")
# Rates of the unusual: frequent enough that a run of 20 instances meets each of them.
_EARLY_RATE = 0.15  # a call of the instance arrives before its newInstance
_DEBUG_BUY_RATE = 0.1  # a debug newInstance for another order line
_DEBUG_RATE = 0.1  # per lifecycle call: a debug copy besides it
_RESEND_RATE = 0.15  # per lifecycle call: sent again later, signed again
_RELEASE_RATE = 0.4
_LATE_FREEZE_RATE = 0.5  # of the released: a freeze arrives after the release


@dataclass
class Lifecycle:
    """One instance's calls, in the order the platform makes them."""

    order_id: str
    order_line_id: str
    early: list[Body] = field(default_factory=list)  # sent before the newInstance
    debug_buy: Body | None = None  # a debug newInstance of another order line: must open nothing
    changes: list[Body] = field(default_factory=list)  # once the instance is ready; shuffled with the others
    released: bool = False  # the last of `changes` is its releaseInstance
    late_freeze: bool = False  # a freeze sent once the release is accepted: the instance must stay released

    @property
    def instance_id(self) -> str:
        return derive_instance_id(self.order_id, self.order_line_id)

    def late_freeze_call(self) -> Body:
        return {"activity": "updateInstanceStatus", "instanceId": self.instance_id, "status": "FREEZE", "testFlag": "0"}

    def buy(self) -> Body:
        """A newInstance for the order line: every call of it a new businessId, the same instance."""
        return {
            "activity": "newInstance",
            "orderId": self.order_id,
            "orderLineId": self.order_line_id,
            "businessId": str(uuid.uuid4()),
            "testFlag": "0",
        }

    def app_info(self) -> Body:
        """What the merchant's application says of the instance once it has opened it."""
        return {
            "frontEndUrl": f"https://saas.example.com/i/{self.instance_id}",
            "adminUrl": f"https://saas.example.com/admin/{self.instance_id}",
            "userName": "admin",
            "password": hashlib.sha256(self.instance_id.encode()).hexdigest()[:12],
            "memo": "初始管理员账号",
        }


def run_tag(seed: int, instances: int) -> str:
    """A tag for a run's order ids: runs of different seeds or sizes never share an instance."""
    return hashlib.sha256(f"instances/{seed}/{instances}".encode()).hexdigest()[:8].upper()


def generate_lifecycles(seed: int, instances: int) -> list[Lifecycle]:
    tag = run_tag(seed, instances)
    return [
        _Plan(random.Random(f"{seed}/instance/{index}"), f"CS{tag}{index:05d}").play() for index in range(instances)
    ]


class _Plan:
    def __init__(self, rng: random.Random, order_id: str) -> None:
        self.rng = rng
        self.cycle = Lifecycle(order_id, f"{order_id}-000001")
        self.expiry_year = 2026
        self.upgrades = 0

    def play(self) -> Lifecycle:
        cycle = self.cycle
        if self.rng.random() < _EARLY_RATE:
            cycle.early = [self._step() for _ in range(self.rng.randint(1, 2))]
        if self.rng.random() < _DEBUG_BUY_RATE:
            cycle.debug_buy = {**cycle.buy(), "orderLineId": f"{cycle.order_id}-DEBUG", "testFlag": "1"}
        for _ in range(self.rng.randint(3, 8)):
            step = self._step()
            cycle.changes.append(step)
            if self.rng.random() < _DEBUG_RATE:
                cycle.changes.append({**step, "testFlag": "1"})
            if self.rng.random() < _RESEND_RATE:
                cycle.changes.append(dict(step))  # a re-send: the same body, signed again when sent
        if self.rng.random() < _RELEASE_RATE:
            cycle.released = True
            cycle.changes.append(self._release())
            cycle.late_freeze = self.rng.random() < _LATE_FREEZE_RATE
        return cycle

    def _step(self) -> Body:
        kind = self.rng.choices(["refresh", "freeze", "unfreeze", "upgrade"], weights=[4, 2, 2, 1])[0]
        if kind == "refresh":
            return self._refresh()
        if kind == "upgrade":
            self.upgrades += 1
            return self._with_order("upgradeInstance", f"{self.cycle.order_id}-U{self.upgrades}")
        return self._status("FREEZE" if kind == "freeze" else "UNFREEZE")

    def _refresh(self) -> Body:
        scene = self.rng.choice(SCENES)
        # A renewal moves the expiry on, a cancelled renewal period back; the others keep a year.
        self.expiry_year += {"RENEWAL": 1, "UNSUBSCRIBE_RENEWAL_PERIOD": -1}.get(scene, 0)
        month, day = self.rng.randint(1, 12), self.rng.randint(1, 28)
        expire = f"{self.expiry_year:04d}{month:02d}{day:02d}160000" + ("123" if self.rng.random() < 0.3 else "")
        body = {
            **self._with_order("refreshInstance", self.cycle.order_id),
            "scene": scene,
            "expireTime": expire,
        }
        if scene in ("TRIAL_TO_FORMAL", "RENEWAL_CHANGE") or self.rng.random() < 0.2:
            body["productId"] = f"OFFI{self.rng.randrange(10**6):06d}"
        return body

    def _with_order(self, activity: str, order_id: str) -> Body:
        return {
            "activity": activity,
            "instanceId": self.cycle.instance_id,
            "orderId": order_id,
            "orderLineId": f"{order_id}-000001",
            "testFlag": "0",
        }

    def _status(self, status: str) -> Body:
        return {"activity": "updateInstanceStatus", "instanceId": self.cycle.instance_id, "status": status}

    def _release(self) -> Body:
        body = {"activity": "releaseInstance", "instanceId": self.cycle.instance_id}
        if self.rng.random() < 0.5:  # an unsubscription names its order; an expiry does not
            body |= {"orderId": self.cycle.order_id, "orderLineId": self.cycle.order_line_id}
        return body
