"""The soak's traffic: every tenant's calls of one simulated day, deterministic from (seed, day).

Each tenant is an enterprise of a fixed size (`departments` departments, `users` users, two
applications) that keeps changing: on its first day it is created, its applications bound, a full
department snapshot sent and its users authorised; every day after, `calls_per_day` calls spread
over the day: department adds, renames, moves and deletes (singleOrgSync, ~65%), users authorised,
changed, revoked or deleted (authSync, ~25%), application and tenant changes (~10%), and once a
week a full snapshot (allOrgSync). Codes and user names come from the tenant's fixed pools, so the
state of a tenant is bounded (as a real enterprise's is) while its history grows every day. A
share of each day's calls are copies of calls of earlier days, re-sent: duplicates while their
events are kept, stale by version once they are pruned.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas.calls import AnyCall, parse_call
from schemas.timestamps import format_platform_time

DAY = timedelta(days=1)
# Calls of each day kept as candidates for later re-sends: enough to re-send from every earlier day.
_RESEND_POOL_PER_DAY = 500


@dataclass(frozen=True)
class SoakShape:
    tenants: int
    calls_per_day: int  # per tenant, after its first day
    departments: int = 150  # per tenant: the pool of org codes
    users: int = 40  # per tenant: the pool of user names
    resent_share: float = 0.01  # of a day's calls, copies of earlier days' calls


@dataclass
class SoakTraffic:
    """Day after day of calls for `shape.tenants` tenants; `day(n)` must be asked in order."""

    shape: SoakShape
    seed: int
    start: datetime
    _sent: list[list[AnyCall]] = field(default_factory=list)  # per day, a sample for re-sends

    def tenant_id(self, index: int) -> str:
        return f"soak-{self.seed}-{index:05d}"

    def day(self, number: int) -> list[AnyCall]:
        """Day `number`'s calls of every tenant, in timestamp order, re-sent copies included."""
        rng = random.Random(f"{self.seed}/{number}")
        day_start = self.start + number * DAY
        calls: list[AnyCall] = []
        for index in range(self.shape.tenants):
            calls += self._tenant_day(rng, index, number, day_start)
        resends = self._resends(rng, len(calls), day_start)
        self._sent.append(rng.sample(calls, min(_RESEND_POOL_PER_DAY, len(calls))))
        every = calls + resends
        every.sort(key=lambda call: call.timeStamp)
        return every

    def _resends(self, rng: random.Random, count: int, day_start: datetime) -> list[AnyCall]:
        """Copies of earlier days' calls, as a buyer re-triggers them: same content, same timeStamp."""
        if not self._sent:
            return []
        wanted = int(count * self.shape.resent_share)
        copies = [rng.choice(rng.choice(self._sent)) for _ in range(wanted)]
        # Sent again today: the platform's timeStamp is the change's, so only the sending time is new.
        return sorted(copies, key=lambda call: call.timeStamp)

    def _tenant_day(self, rng: random.Random, index: int, number: int, day_start: datetime) -> list[AnyCall]:
        tenant = self.tenant_id(index)
        bodies: list[tuple[str, dict[str, Any]]] = []
        if number == 0:
            bodies += self._first_day(rng, tenant)
        else:
            if number % 7 == index % 7:
                bodies.append(("allOrgSync", {"orgInfoList": self._org_list(rng, number)}))
            bodies += [self._change(rng, number) for _ in range(self.shape.calls_per_day)]
        # Spread over the day, in order, a different offset for each tenant.
        step = DAY / (len(bodies) + 1)
        offset = timedelta(milliseconds=index % 997)
        return [
            parse_call(
                interface,
                {
                    "tenantId": tenant,
                    "instanceId": f"inst-{index}",
                    "testFlag": 0,
                    "timeStamp": format_platform_time(day_start + step * (position + 1) + offset),
                    **body,
                },
            )
            for position, (interface, body) in enumerate(bodies)
        ]

    def _first_day(self, rng: random.Random, tenant: str) -> list[tuple[str, dict[str, Any]]]:
        bodies: list[tuple[str, dict[str, Any]]] = [
            ("tenantSync", self._tenant_body(0, 1)),
            *[("applicationSync", self._application_body(app, 0, 1)) for app in ("app1", "app2")],
            ("allOrgSync", {"orgInfoList": self._org_list(rng, 0)}),
        ]
        for start in range(0, self.shape.users, 20):
            users = [self._user(rng, serial, 0) for serial in range(start, min(start + 20, self.shape.users))]
            bodies.append(("authSync", {"appId": "app1", "flag": 1, "userList": users}))
        return bodies

    def _change(self, rng: random.Random, number: int) -> tuple[str, dict[str, Any]]:
        draw = rng.random()
        if draw < 0.65:
            code = rng.randrange(self.shape.departments)
            flag = 0 if rng.random() < 0.1 else rng.choice((1, 2))
            return "singleOrgSync", {
                "orgCode": f"D{code:04d}",
                "orgName": f"Department {code} (day {number})",
                "parentCode": f"D{code // 5:04d}" if code else "",
                "flag": flag,
            }
        if draw < 0.9:
            users = [self._user(rng, rng.randrange(self.shape.users), number) for _ in range(rng.randint(1, 3))]
            unique = list({user["userName"]: user for user in users}.values())
            flag = rng.choices((1, 2, 3, 0), weights=(40, 45, 10, 5))[0]
            return "authSync", {"appId": rng.choice(("app1", "app2")), "flag": flag, "userList": unique}
        if draw < 0.95:
            return "applicationSync", self._application_body(rng.choice(("app1", "app2")), number, 2)
        return "tenantSync", self._tenant_body(number, 2)

    def _org_list(self, rng: random.Random, number: int) -> list[dict[str, str]]:
        return [
            {"orgCode": f"D{code:04d}", "orgName": f"Department {code} (day {number})",
             "parentCode": f"D{code // 5:04d}" if code else ""}
            for code in range(self.shape.departments)
            if rng.random() < 0.95
        ]  # fmt: skip

    @staticmethod
    def _user(rng: random.Random, serial: int, number: int) -> dict[str, Any]:
        return {
            "userName": f"user{serial:04d}",
            "name": f"Person {serial}",
            "orgCode": f"D{rng.randrange(100):04d}",
            "role": "admin" if serial == 0 else "user",
            "enable": "true",
            "position": f"Engineer, day {number}",
            "email": f"user{serial}@example.com",
        }

    @staticmethod
    def _tenant_body(number: int, flag: int) -> dict[str, Any]:
        return {
            "orderId": "order-1",
            "tenantCode": "acme",
            "name": f"Acme (day {number})",
            "domainName": "https://acme.example.com",
            "flag": flag,
        }

    @staticmethod
    def _application_body(app: str, number: int, flag: int) -> dict[str, Any]:
        return {"appId": app, "clientId": f"client-{app}-{number}", "clientSecret": "c2VjcmV0IGJ5dGVz", "flag": flag}
