"""Throwaway local services for `syncpipe up` and the tests: a Kafka-protocol broker and Postgres."""

from syncpipe.embedded.kafka import EmbeddedKafka
from syncpipe.embedded.postgres import EmbeddedPostgres
from syncpipe.embedded.process import EmbeddedServiceError

__all__ = ["EmbeddedKafka", "EmbeddedPostgres", "EmbeddedServiceError"]
