"""Which partitions are missing: ranges that cover what is asked, never overlapping what exists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runtime.postgres.partitions import ACK_OUTBOX, EVENTS, Partition, missing_ranges

DAY = timedelta(days=1)
T = datetime(2031, 3, 10, tzinfo=UTC)


def test_nothing_exists_one_range_per_day_on_utc_boundaries() -> None:
    assert missing_ranges(EVENTS, [], T, T + 3 * DAY) == [
        (T, T + DAY),
        (T + DAY, T + 2 * DAY),
        (T + 2 * DAY, T + 3 * DAY),
    ]
    assert EVENTS.start_of(T + timedelta(hours=23, minutes=59)) == T
    assert ACK_OUTBOX.start_of(T + timedelta(minutes=90)) == T + timedelta(hours=1)
    assert EVENTS.partition_name(T) == "events_p20310310"
    assert ACK_OUTBOX.partition_name(T + timedelta(hours=7)) == "ack_outbox_p2031031007"


def test_what_exists_is_skipped_and_a_range_is_cut_short_where_a_partition_begins() -> None:
    before_partitioning = Partition("events_before_0010", None, T + DAY)  # from MINVALUE
    odd = Partition("events_odd", T + 2 * DAY + timedelta(hours=6), T + 3 * DAY)
    cut = (T + 2 * DAY, T + 2 * DAY + timedelta(hours=6))
    assert missing_ranges(EVENTS, [before_partitioning, odd], T, T + 4 * DAY) == [
        (T + DAY, T + 2 * DAY),
        cut,
        (T + 3 * DAY, T + 4 * DAY),
    ]
    assert EVENTS.partition_name(*cut) == "events_p20310312000000"  # not the whole day's name


def test_everything_covered_needs_nothing() -> None:
    existing = [Partition(f"p{n}", T + n * DAY, T + (n + 1) * DAY) for n in range(5)]
    assert missing_ranges(EVENTS, existing, T + timedelta(hours=5), T + 4 * DAY) == []
