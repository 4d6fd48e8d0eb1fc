"""Hypothesis strategies for instance lifecycles (SPEC §9): calls with their signing times, and deliveries.

A few instances share each history, so that keying by instance is exercised too. Signing times are
unique within a history: SPEC §9 leaves equal versions open (the pipeline and the model both break
ties by event id, but a test need not lean on it).
"""

from __future__ import annotations

from hypothesis import strategies as st

from schemas.instance_calls import (
    InstanceChange,
    NewInstance,
    RefreshInstance,
    ReleaseInstance,
    UpdateInstanceStatus,
    UpgradeInstance,
    derive_instance_id,
)
from syncpipe.simulation.instance_model import SignedCall

ORDER_LINES = [("CS-A", "CS-A-000001"), ("CS-B", "CS-B-000001"), ("CS-B", "CS-B-000002")]
INSTANCES = [derive_instance_id(*line) for line in ORDER_LINES]


def order_lines(prefix: str) -> list[tuple[str, str]]:
    """The order lines of a history, under `prefix` (tests sharing a database each use their own)."""
    return [(f"{prefix}{order}", f"{prefix}{line}") for order, line in ORDER_LINES]


LATER_ORDERS = [("CS-U1", "CS-U1-000001"), ("CS-U2", "CS-U2-000001")]
EXPIRY = ["20260101000000", "20270101000000", "20280101000000123"]
SCENES = ["TRIAL_TO_FORMAL", "RENEWAL", "UNSUBSCRIBE_RENEWAL_PERIOD", "RENEWAL_CHANGE"]
# Debug calls now and then: they must change nothing.
FLAGS = st.sampled_from(["0", "0", "0", "1"])


@st.composite
def instance_calls(draw: st.DrawFn, line: int, prefix: str = "") -> InstanceChange:
    order_id, order_line_id = order_lines(prefix)[line]
    instance = derive_instance_id(order_id, order_line_id)
    other = draw(st.sampled_from([(order_id, order_line_id), *LATER_ORDERS]))
    flag = draw(FLAGS)
    kind = draw(st.sampled_from(["new", "refresh", "freeze", "upgrade", "release"]))
    if kind == "new":
        business = draw(st.uuids()).hex
        return NewInstance(
            activity="newInstance", orderId=order_id, orderLineId=order_line_id, businessId=business, testFlag=flag
        )
    if kind == "refresh":
        return RefreshInstance(
            activity="refreshInstance",
            instanceId=instance,
            scene=draw(st.sampled_from(SCENES)),
            orderId=other[0],
            orderLineId=other[1],
            expireTime=draw(st.sampled_from(EXPIRY)),
            productId=draw(st.sampled_from(["", "P-1", "P-2"])),
            testFlag=flag,
        )
    if kind == "freeze":
        status = draw(st.sampled_from(["FREEZE", "UNFREEZE"]))
        return UpdateInstanceStatus(activity="updateInstanceStatus", instanceId=instance, status=status, testFlag=flag)
    if kind == "upgrade":
        return UpgradeInstance(
            activity="upgradeInstance", instanceId=instance, orderId=other[0], orderLineId=other[1], testFlag=flag
        )
    named = draw(st.booleans())
    return ReleaseInstance(
        activity="releaseInstance",
        instanceId=instance,
        orderId=other[0] if named else "",
        orderLineId=other[1] if named else "",
        testFlag=flag,
    )


@st.composite
def lifecycles(draw: st.DrawFn, max_calls: int = 24, prefix: str = "") -> list[SignedCall]:
    """Calls of up to three instances, each signed at its own millisecond, in signing order."""
    size = draw(st.integers(min_value=1, max_value=max_calls))
    times = sorted(draw(st.lists(st.integers(0, 10**7), min_size=size, max_size=size, unique=True)))
    base = 1_767_600_000_000
    lines = st.integers(0, len(ORDER_LINES) - 1)
    return [SignedCall(draw(instance_calls(draw(lines), prefix)), base + at) for at in times]


@st.composite
def deliveries(draw: st.DrawFn, calls: list[SignedCall]) -> list[SignedCall]:
    """`calls` in any order, some delivered more than once (a producer retry, a replay)."""
    again = draw(st.lists(st.sampled_from(calls), max_size=len(calls))) if calls else []
    shuffled: list[SignedCall] = draw(st.permutations([*calls, *again]))
    return shuffled
