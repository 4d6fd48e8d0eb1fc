"""When a failed ack is tried again: capped exponential backoff with jitter."""

from __future__ import annotations

import random
from typing import NamedTuple


class RetryPolicy(NamedTuple):
    """Delay before the next attempt, after `attempts` attempts have failed.

    The step doubles from `first_s` up to `cap_s`; the delay is drawn from the upper half of the
    step ("equal jitter"): never sooner than half the step, so a platform that just came back is not
    hit by every ack at once, and spread over the other half, so acks that failed together do not
    retry together.
    """

    first_s: float
    cap_s: float

    def step_s(self, attempts: int) -> float:
        # The exponent is bounded so a row retried for weeks does not overflow a float.
        doublings = min(max(attempts - 1, 0), 62)
        return min(self.cap_s, self.first_s * float(2**doublings))

    def delay_s(self, attempts: int, rng: random.Random | None = None) -> float:
        step = self.step_s(attempts)
        uniform = rng.uniform if rng is not None else random.uniform
        return step / 2 + uniform(0, step / 2)
