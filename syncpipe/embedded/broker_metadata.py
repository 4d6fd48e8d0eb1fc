"""Which brokers a Kafka node says are registered: the readiness check of the embedded Apache Kafka.

A node that accepts connections may still be catching up on the metadata log or be fenced; it counts
as ready only once its own Metadata answer lists it (and, for a cluster, every other node). The check
is synchronous, like the rest of `syncpipe.embedded`, and may be called while an event loop runs (`syncpipe
up` starts its services from one): it runs an aiokafka client on a loop of its own, in a thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

from aiokafka.client import AIOKafkaClient
from aiokafka.errors import KafkaError

# A node that holds a Metadata request longer than this is not ready yet; the caller asks again.
_ANSWER_TIMEOUT_S = 2.0


def registered_brokers(bootstrap_servers: list[str]) -> dict[str, frozenset[int]]:
    """For each address, the ids of the brokers its Metadata answer lists (empty if it did not answer).

    Ask only addresses that accept connections (`port_open`): aiokafka logs every refused one as an error."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, _ask_each(bootstrap_servers)).result()


async def _ask_each(addresses: list[str]) -> dict[str, frozenset[int]]:
    answers = await asyncio.gather(*(_ask(address) for address in addresses))
    return dict(zip(addresses, answers, strict=True))


async def _ask(address: str) -> frozenset[int]:
    client = AIOKafkaClient(bootstrap_servers=address, request_timeout_ms=int(_ANSWER_TIMEOUT_S * 1000))
    try:
        async with asyncio.timeout(_ANSWER_TIMEOUT_S):
            await client.bootstrap()
        return frozenset(broker.nodeId for broker in client.cluster.brokers())
    except (KafkaError, TimeoutError, OSError):
        return frozenset()
    finally:
        await client.close()
