"""A poison call: valid on the wire, accepted by the gateway, impossible to apply.

A department renamed to a name holding U+0000. JSON allows the character and the call schema takes
it, so the gateway answers `000000`; Postgres cannot store a NUL in `text`, so every transaction that
writes it fails with a non-retriable error (it is the data, not the database). Its tenant's other
calls are ordinary.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

from schemas.calls import Interface
from schemas.timestamps import format_platform_time, parse_platform_time
from syncpipe.simulation.generator import PlatformCall

POISONED_NAME = "R&D\u0000"


def poison_for(history: Sequence[PlatformCall], tenant_id: str) -> PlatformCall:
    """A rename of one of the tenant's departments, timed half-way through its history."""
    own = [call for call in history if call.body["tenantId"] == tenant_id]
    snapshot = next(call for call in own if call.interface is Interface.ALL_ORG_SYNC)
    listed = snapshot.body["orgInfoList"]
    departments = json.loads(listed) if isinstance(listed, str) else listed
    taken = {call.body["timeStamp"] for call in own}
    moment = parse_platform_time(own[len(own) // 2].body["timeStamp"])
    while format_platform_time(moment) in taken:
        moment += timedelta(milliseconds=1)
    body = {
        "instanceId": snapshot.body["instanceId"],
        "tenantId": tenant_id,
        "testFlag": 0,
        "timeStamp": format_platform_time(moment),
        "orgCode": departments[0]["orgCode"],
        "orgName": POISONED_NAME,
        "parentCode": "",
        "flag": 2,
    }
    return PlatformCall(Interface.SINGLE_ORG_SYNC, body)
