"""Retry delays of a failing ack: exponential, capped, jittered."""

from __future__ import annotations

import random

from runtime.retry import RetryPolicy

POLICY = RetryPolicy(first_s=1.0, cap_s=60.0)


def test_the_step_doubles_from_the_first_delay_up_to_the_cap() -> None:
    assert [POLICY.step_s(attempts) for attempts in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert POLICY.step_s(10**9) == 60  # a row failing for months neither overflows nor exceeds the cap


def test_each_delay_lies_in_the_upper_half_of_its_step() -> None:
    rng = random.Random(7)
    for attempts in range(1, 30):
        step = POLICY.step_s(attempts)
        delays = [POLICY.delay_s(attempts, rng) for _ in range(200)]
        assert all(step / 2 <= delay <= step for delay in delays)
        assert max(delays) <= POLICY.cap_s


def test_delays_are_spread_so_acks_that_failed_together_do_not_retry_together() -> None:
    delays = [POLICY.delay_s(10) for _ in range(100)]
    assert len(set(delays)) == 100
    assert max(delays) - min(delays) > POLICY.cap_s / 4
