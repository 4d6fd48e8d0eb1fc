"""SYNCPIPE_PRODUCER_IDEMPOTENCE on the two embedded brokers: Apache Kafka grants producer ids, Tansu
refuses them loudly; and the trade it makes, shown on a broker that goes away and comes back."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.errors import KafkaConnectionError

from gateway.publisher import IdempotenceRefused, KafkaEventPublisher
from runtime.settings import Settings
from runtime.topics import ensure_topics
from schemas.envelope import HEADER_EVENT_ID
from syncpipe.embedded import EmbeddedKafka
from syncpipe.embedded.apache_kafka import ApacheKafkaCluster
from tests.gateway.platform import sample_body
from tests.gateway.test_gateway_kafka import post, read_events, running_gateway

pytestmark = pytest.mark.integration

# The gateway answers 000005 at this deadline; short, as the node stays down longer than it.
_PRODUCE_TIMEOUT_S = 2.0
# Room for a producer that still holds the refused call to write it once the node is back.
_LATE_WRITE_WINDOW_S = 10.0


def settings_on(bootstrap_servers: str, access_key: str, *, idempotence: bool) -> Settings:
    run = uuid.uuid4().hex[:12]
    return Settings(
        kafka_bootstrap_servers=bootstrap_servers,
        events_topic=f"events-{run}",
        dead_letter_topic=f"dlq-{run}",
        topic_partitions=1,
        access_keys=(access_key,),  # type: ignore[arg-type]
        produce_timeout_s=_PRODUCE_TIMEOUT_S,
        producer_idempotence=idempotence,
    )


async def test_tansu_refuses_a_producer_id_and_the_gateway_says_which_setting_to_unset(
    tansu: EmbeddedKafka, access_key: str
) -> None:
    settings = settings_on(tansu.bootstrap_servers, access_key, idempotence=True)
    await ensure_topics(settings)
    with pytest.raises(IdempotenceRefused, match="unset SYNCPIPE_PRODUCER_IDEMPOTENCE"):
        await KafkaEventPublisher(settings).start()


async def test_an_unreachable_broker_is_reported_as_such_not_as_a_refusal(access_key: str) -> None:
    settings = settings_on("127.0.0.1:1", access_key, idempotence=True)
    with pytest.raises(KafkaConnectionError):
        await KafkaEventPublisher(settings).start()


@pytest.mark.parametrize("idempotence", [True, False], ids=["idempotent", "plain"])
async def test_a_call_refused_while_the_node_is_down_is_written_later_only_by_an_idempotent_producer(
    apache_kafka: ApacheKafkaCluster, access_key: str, idempotence: bool
) -> None:
    """The trade of SYNCPIPE_PRODUCER_IDEMPOTENCE: aiokafka's idempotent producer never gives a batch
    up, so a call answered 000005 is stored once the broker is back; a plain one gives up at the
    deadline, and the refused call leaves no trace."""
    settings = settings_on(apache_kafka.bootstrap_servers, access_key, idempotence=idempotence)
    await ensure_topics(settings)
    tenant = f"t-{uuid.uuid4().hex[:12]}"
    node = apache_kafka.nodes[0]
    try:
        async with running_gateway(settings) as http:
            _, stored = await post(http, access_key, "tenantSync", sample_body("tenantSync", tenant))
            assert stored["resultCode"] == "000000", stored
            node.kill()
            status, refused = await post(http, access_key, "tenantSync", sample_body("tenantSync", tenant, name="b"))
            assert (status, refused["resultCode"]) == (503, "000005"), refused
            node.restart()
            await asyncio.sleep(_LATE_WRITE_WINDOW_S)
    finally:
        if node.pid is None:
            node.restart()

    records = await read_events(settings)
    written = [dict(record.headers)[HEADER_EVENT_ID].decode() for record in records]
    assert written[0] == stored["eventId"]
    assert len(written) == (2 if idempotence else 1)


async def test_apache_kafka_grants_a_producer_id(apache_kafka: ApacheKafkaCluster, access_key: str) -> None:
    settings = settings_on(apache_kafka.bootstrap_servers, access_key, idempotence=True)
    await ensure_topics(settings)
    async with running_gateway(settings) as http:
        _, answer = await post(http, access_key, "tenantSync", sample_body("tenantSync", f"t-{uuid.uuid4().hex[:12]}"))
    assert answer["resultCode"] == "000000", answer
    assert [dict(record.headers)[HEADER_EVENT_ID].decode() for record in await read_events(settings, 1)] == [
        answer["eventId"]
    ]
