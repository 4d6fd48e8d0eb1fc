"""Realistic call histories for many tenants, deterministic from a seed.

Each tenant's history is what a marketplace would send over the life of an enterprise: the tenant
is created, 1-3 applications are bound, a full department snapshot (`allOrgSync`) arrives, users are
authorised in batches of at most 500, then incremental changes follow (departments added, renamed,
moved, deleted; users added, modified, deleted, revoked; applications and the tenant changed),
with a second, drifted full snapshot half-way, test probes (`testFlag=1`) of destructive calls,
occasionally a tenant delete followed by a re-add, and occasional platform inconsistencies (a
department sent before its parent, a parent that never comes, a move that closes a loop, a user
in an unknown department). Bodies use the wire forms real senders use (`enable` as a string,
sometimes a string-encoded `orgInfoList`, a differently-cased key, the legacy `extension` object,
unknown fields).

Timestamps are strictly increasing and unique within a tenant, so the expected state never depends
on how ties resolve. Every body validates with `schemas.calls.parse_call`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from schemas.calls import Flag, Interface
from schemas.timestamps import PLATFORM_TZ, format_platform_time
from syncpipe.simulation import names
from syncpipe.simulation.org_tree import OrgTree

MAX_USERS_PER_CALL = 500  # SPEC §1: an authSync carries at most 500 users.
# Histories start together so that tenants interleave when merged in timestamp order.
_EPOCH = datetime(2025, 3, 3, 9, 0, tzinfo=PLATFORM_TZ)
# Rates of the unusual: frequent enough that a 20-tenant run meets each of them, rare enough that
# the histories stay mostly ordinary.
_ANOMALY_RATE = 0.08
_SENDER_QUIRK_RATE = 0.1
_TEST_PROBE_WEIGHT = 1.0
_TENANT_READD_RATE = 0.25


class PlatformCall(NamedTuple):
    """One sync call as the platform sends it: the interface and the JSON body (wire form)."""

    interface: Interface
    body: dict[str, Any]


@dataclass(frozen=True)
class WorkloadSizes:
    """How much each tenant's history holds."""

    departments_per_tenant: int = 30
    users_per_tenant: int = 40
    changes_per_tenant: int = 40

    def __post_init__(self) -> None:
        if self.departments_per_tenant < 1 or self.users_per_tenant < 0 or self.changes_per_tenant < 0:
            raise ValueError(f"sizes must be non-negative, with at least one department: {self}")


def tenant_ids(seed: int, tenants: int, sizes: WorkloadSizes) -> list[str]:
    """Ids that differ whenever the seed or sizes do, so runs of different workloads never share a tenant.

    A run repeated with the same seed and sizes sends the same calls again: all duplicates.
    """
    tag = hashlib.sha256(repr((seed, sizes)).encode()).hexdigest()[:8]
    return [f"sim-{tag}-{index:04d}" for index in range(tenants)]


def generate_history(seed: int, tenants: int, sizes: WorkloadSizes) -> list[PlatformCall]:
    """Every tenant's calls, merged in timestamp order. Tenant i's history depends only on (seed, i, sizes)."""
    calls: list[PlatformCall] = []
    for index, tenant_id in enumerate(tenant_ids(seed, tenants, sizes)):
        calls.extend(_TenantHistory(random.Random(f"{seed}/{index}"), tenant_id, sizes).play())
    calls.sort(key=lambda call: str(call.body["timeStamp"]))
    return calls


class _TenantHistory:
    """Plays one tenant's life, tracking what the platform believes so each change makes sense."""

    def __init__(self, rng: random.Random, tenant_id: str, sizes: WorkloadSizes) -> None:
        self.rng = rng
        self.sizes = sizes
        self.tenant_id = tenant_id
        self.instance_id = f"{rng.getrandbits(64):016x}"
        self.clock = _EPOCH + timedelta(milliseconds=rng.randrange(60_000))
        self.serial = 0
        self.calls: list[PlatformCall] = []
        self.tree = OrgTree()
        self.users: dict[str, dict[str, Any]] = {}
        self.authorised: dict[str, set[str]] = {}  # appId -> userNames
        self.apps: dict[str, str] = {}  # appId -> clientId

    def play(self) -> list[PlatformCall]:
        changes = self.sizes.changes_per_tenant
        readd_at = self.rng.randrange(changes) if changes and self.rng.random() < _TENANT_READD_RATE else None
        self._sync_tenant(Flag.ADD, self._tenant_fields())
        self._populate(self.sizes.departments_per_tenant, self.sizes.users_per_tenant)
        moves: list[tuple[Callable[[], None], float]] = [
            (self._add_department, 4),
            (self._rename_department, 3),
            (self._move_department, 2),
            (self._delete_department, 2),
            (self._add_users, 3),
            (self._modify_users, 3),
            (self._delete_users, 1),
            (self._revoke_users, 1),
            (self._modify_application, 1),
            (self._rebind_application, 0.5),
            (self._modify_tenant, 1),
            (self._probe, _TEST_PROBE_WEIGHT),
        ]
        actions, weights = zip(*moves, strict=True)
        for step in range(changes):
            if step == changes // 2:
                self._drifted_snapshot()
            if step == readd_at:
                self._delete_and_readd()
            self.rng.choices(actions, weights)[0]()
        return self.calls

    # -- emitting ---------------------------------------------------------------------------------

    def _emit(self, interface: Interface, fields: dict[str, Any], *, test: bool = False) -> None:
        self.clock += timedelta(milliseconds=self.rng.randint(1, 2000))
        body = {
            "instanceId": self.instance_id,
            "tenantId": self.tenant_id,
            "testFlag": 1 if test else 0,
            "timeStamp": format_platform_time(self.clock),
            **fields,
        }
        if self._quirk():
            body["operator"] = "console"  # unknown fields are kept, never rejected
        self.calls.append(PlatformCall(interface, body))

    def _quirk(self) -> bool:
        return self.rng.random() < _SENDER_QUIRK_RATE

    def _anomaly(self) -> bool:
        return self.rng.random() < _ANOMALY_RATE

    def _next_serial(self) -> int:
        self.serial += 1
        return self.serial

    # -- tenant and applications -----------------------------------------------------------------

    def _tenant_fields(self) -> dict[str, Any]:
        code = f"ent{self.rng.getrandbits(32):08x}"
        return {
            "orderId": f"CS{self.rng.getrandbits(48):012d}",
            "tenantCode": code,
            "name": names.company_name(self.rng),
            "domainName": f"https://{code}.sso.example.com",
        }

    def _sync_tenant(self, flag: Flag, fields: dict[str, Any], *, test: bool = False) -> None:
        self._emit(Interface.TENANT_SYNC, {**fields, "flag": int(flag)}, test=test)

    def _modify_tenant(self) -> None:
        self._sync_tenant(Flag.MODIFY, self._tenant_fields())

    def _delete_and_readd(self) -> None:
        self._sync_tenant(Flag.DELETE, self._tenant_fields())
        self.tree = OrgTree()
        self.users.clear()
        self.authorised.clear()
        self.apps.clear()
        self._sync_tenant(Flag.ADD, self._tenant_fields())
        self._populate(self.sizes.departments_per_tenant // 2 + 1, self.sizes.users_per_tenant // 2)

    def _sync_application(self, app_id: str, flag: Flag) -> None:
        secret = base64.b64encode(self.rng.randbytes(32)).decode()  # sealed by the runner when it has a key
        fields = {"appId": app_id, "clientId": self.apps.get(app_id, ""), "clientSecret": secret}
        self._emit(Interface.APPLICATION_SYNC, {**fields, "flag": int(flag)})

    def _bind_application(self) -> None:
        app_id = f"app-{self.rng.getrandbits(40):010x}"
        self.apps[app_id] = f"client-{self.rng.getrandbits(40):010x}"
        self._sync_application(app_id, Flag.ADD)

    def _modify_application(self) -> None:
        if not self.apps:
            return self._bind_application()
        app_id = self.rng.choice(sorted(self.apps))
        self.apps[app_id] = f"client-{self.rng.getrandbits(40):010x}"
        return self._sync_application(app_id, Flag.MODIFY)

    def _rebind_application(self) -> None:
        if self.apps:
            app_id = self.rng.choice(sorted(self.apps))
            self._sync_application(app_id, Flag.DELETE)
            del self.apps[app_id]
        self._bind_application()

    def _some_app(self) -> str:
        if not self.apps:
            self._bind_application()
        return self.rng.choice(sorted(self.apps))

    # -- departments -----------------------------------------------------------------------------

    def _populate(self, departments: int, users: int) -> None:
        for _ in range(self.rng.randint(1, 3)):
            self._bind_application()
        self.tree.grow(self.rng, departments, self._new_code)
        self._full_sync()
        self._add_users(users)
        for app_id in sorted(self.apps)[1:]:
            subset = [name for name in sorted(self.users) if self.rng.random() < 0.5]
            self._authorise(app_id, subset, Flag.ADD)

    def _new_code(self) -> str:
        return f"D{self._next_serial():05d}"

    def _full_sync(self) -> None:
        listed: list[dict[str, Any]] = self.tree.listing(self.rng)
        if self._quirk() and listed:
            first = dict(listed[0])
            first["OrgName"] = first.pop("orgName")  # a key in another case
            listed = [first, *listed[1:]]
        org_info: Any = json.dumps(listed, ensure_ascii=False) if self._quirk() else listed
        self._emit(Interface.ALL_ORG_SYNC, {"orgInfoList": org_info})

    def _drifted_snapshot(self) -> None:
        """The platform's second full snapshot differs from what the incremental calls said."""
        self.tree.drift(self.rng, self._new_code)
        self._full_sync()

    def _sync_department(self, code: str, flag: Flag, *, test: bool = False) -> None:
        name, parent = self.tree.departments.get(code, ("", ""))
        fields = {"orgCode": code, "orgName": name, "parentCode": parent, "flag": int(flag)}
        self._emit(Interface.SINGLE_ORG_SYNC, fields, test=test)

    def _add_department(self) -> None:
        code = self._new_code()
        if not self._anomaly():
            self.tree.add(self.rng, code)
            return self._sync_department(code, Flag.ADD)
        parent = self._new_code()
        self.tree.departments[code] = (names.department_name(self.rng, 1), parent)
        self._sync_department(code, Flag.ADD)
        if self.rng.random() < 0.5:  # the parent follows its child; otherwise it never comes
            self.tree.add(self.rng, parent)
            self._sync_department(parent, Flag.ADD)
        return None

    def _rename_department(self) -> None:
        if code := self.tree.pick(self.rng):
            self.tree.rename(self.rng, code)
            self._sync_department(code, Flag.MODIFY)

    def _move_department(self) -> None:
        if code := self.tree.pick(self.rng):
            self.tree.move(self.rng, code, into_own_subtree=self._anomaly())
            self._sync_department(code, Flag.MODIFY)

    def _delete_department(self) -> None:
        if code := self.tree.pick(self.rng, prefer_leaf=True):
            self._sync_department(code, Flag.DELETE)
            del self.tree.departments[code]

    # -- users -----------------------------------------------------------------------------------

    def _new_user(self) -> dict[str, Any]:
        serial = self._next_serial()
        login = names.login_name(self.rng, serial)
        entry: dict[str, Any] = {
            "userName": login,
            "name": names.person_name(self.rng),
            "orgCode": self._user_org(),
            "role": "admin" if self.rng.random() < 0.05 else "user",
            "enable": "true" if self.rng.random() < 0.9 else "false",
        }
        optional = {
            "position": names.position(self.rng),
            "employeeCode": f"E{serial:06d}",
            "employeeType": self.rng.randint(1, 4),
            "mobile": f"1{self.rng.randrange(10**10):010d}",
        }
        entry.update({key: value for key, value in optional.items() if self.rng.random() < 0.6})
        contact = {
            "email": f"{login}@example.com",
            "workPlace": names.work_place(self.rng),
            "entryDate": f"20{self.rng.randint(10, 24)}-0{self.rng.randint(1, 9)}-1{self.rng.randint(0, 9)}",
        }
        contact = {key: value for key, value in contact.items() if self.rng.random() < 0.6}
        if contact and self._quirk():
            entry["extension"] = contact  # older senders nest these three
        else:
            entry.update(contact)
        return entry

    def _user_org(self) -> str:
        if self._anomaly():
            return f"X{self._next_serial():05d}"  # a department the platform never sends
        return self.tree.pick(self.rng) or ""

    def _authorise(self, app_id: str, user_names: Iterable[str], flag: Flag, *, test: bool = False) -> None:
        entries = [self.users[name] for name in user_names]
        for start in range(0, len(entries), MAX_USERS_PER_CALL):
            batch = entries[start : start + MAX_USERS_PER_CALL]
            self._emit(
                Interface.AUTH_SYNC,
                {
                    "appId": app_id,
                    "userList": batch,
                    "currentSyncTime": format_platform_time(self.clock),
                    "flag": int(flag),
                },
                test=test,
            )

    def _add_users(self, count: int | None = None) -> None:
        count = self.rng.randint(1, 20) if count is None else count
        if count == 0:
            return
        app_id = self._some_app()
        added = [self._new_user() for _ in range(count)]
        self.users.update((entry["userName"], entry) for entry in added)
        self.authorised.setdefault(app_id, set()).update(entry["userName"] for entry in added)
        self._authorise(app_id, [entry["userName"] for entry in added], Flag.ADD)

    def _some_users(self, among: Iterable[str]) -> list[str]:
        pool = sorted(among)
        return self.rng.sample(pool, self.rng.randint(1, min(20, len(pool)))) if pool else []

    def _modify_users(self) -> None:
        chosen = self._some_users(self.users)
        if not chosen:
            return self._add_users()
        for name in chosen:
            entry = dict(self.users[name])
            entry["name"] = names.person_name(self.rng)
            entry["orgCode"] = self._user_org()
            entry["enable"] = "true" if self.rng.random() < 0.85 else "false"
            self.users[name] = entry
        app_id = self._some_app()
        self.authorised.setdefault(app_id, set()).update(chosen)
        return self._authorise(app_id, chosen, Flag.MODIFY)

    def _delete_users(self) -> None:
        if chosen := self._some_users(self.users):
            self._authorise(self._some_app(), chosen, Flag.DELETE)
            for name in chosen:
                del self.users[name]
            for holders in self.authorised.values():
                holders.difference_update(chosen)

    def _revoke_users(self) -> None:
        held = sorted(app_id for app_id, holders in self.authorised.items() if holders & self.users.keys())
        if not held:
            return
        app_id = self.rng.choice(held)
        chosen = self._some_users(self.authorised[app_id] & self.users.keys())
        self._authorise(app_id, chosen, Flag.REVOKE)
        self.authorised[app_id].difference_update(chosen)

    # -- test probes -----------------------------------------------------------------------------

    def _probe(self) -> None:
        """A destructive call with testFlag=1: applied by mistake, it would show in the state."""
        kind = self.rng.randrange(3)
        if kind == 0 and (code := self.tree.pick(self.rng)):
            return self._sync_department(code, Flag.DELETE, test=True)
        if kind == 1 and (chosen := self._some_users(self.users)):
            return self._authorise(self._some_app(), chosen, Flag.DELETE, test=True)
        return self._sync_tenant(Flag.DELETE, self._tenant_fields(), test=True)
