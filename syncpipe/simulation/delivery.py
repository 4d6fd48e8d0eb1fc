"""The order in which the platform delivers a history: no ordering promise, and re-sent calls.

Each call moves at most about `window` places from its position in timestamp order (a sliding
window shuffle: call i is sorted by i + uniform(0, window)), and a fraction of the calls is sent
again, verbatim (the same body object, so the same event id), somewhat later, as when a buyer
re-triggers a sync by hand after newer calls went through.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NamedTuple

from syncpipe.simulation.generator import PlatformCall


class Delivery(NamedTuple):
    """One POST to make; `resend` marks a verbatim copy of a call delivered before it."""

    call: PlatformCall
    resend: bool


def delivery_order(
    calls: Sequence[PlatformCall], seed: int, *, window: int = 50, resend_fraction: float = 0.05
) -> list[Delivery]:
    """`calls` (in timestamp order) shuffled within `window` and with `resend_fraction` of them re-sent."""
    if window < 0 or not 0 <= resend_fraction <= 1:
        raise ValueError(f"need window >= 0 and 0 <= resend_fraction <= 1, got {window}, {resend_fraction}")
    rng = random.Random(f"{seed}/delivery")
    keyed = [(index + rng.uniform(0, window), Delivery(call, resend=False)) for index, call in enumerate(calls)]
    # A re-send comes after its original by up to a tenth of the run (at least a few windows).
    delay = max(4.0 * window, len(calls) / 10, 1.0)
    chosen = rng.sample(range(len(keyed)), round(len(keyed) * resend_fraction))
    keyed += [(keyed[index][0] + rng.uniform(1.0, delay), keyed[index][1]._replace(resend=True)) for index in chosen]
    keyed.sort(key=lambda pair: pair[0])
    return [delivery for _, delivery in keyed]
