"""How a fetched batch is shared among the worker's connections: whole partitions per lane.

A tenant's events are all on one partition (the key is the tenant, or the instance), so lanes of
disjoint partitions touch disjoint tenants and each keeps the order of its partitions. Lanes are
balanced by record count, since a lane's transaction takes about as long as it has records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from aiokafka import TopicPartition

T = TypeVar("T")


def split_into_lanes(
    fetched: Mapping[TopicPartition, Sequence[T]], lanes: int
) -> list[dict[TopicPartition, Sequence[T]]]:
    """At most `lanes` groups of whole partitions, each partition in exactly one, none empty.

    Greedy: the partition with the most records goes to the lane with the fewest so far (ties by
    partition, so the same fetch always splits the same way).
    """
    if lanes < 1:
        raise ValueError(f"lanes must be at least 1, not {lanes}")
    groups: list[dict[TopicPartition, Sequence[T]]] = [{} for _ in range(min(lanes, len(fetched)))]
    sizes = [0] * len(groups)
    for tp, records in sorted(fetched.items(), key=lambda item: (-len(item[1]), item[0].topic, item[0].partition)):
        smallest = sizes.index(min(sizes))
        groups[smallest][tp] = records
        sizes[smallest] += len(records)
    return groups
