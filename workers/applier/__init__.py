"""Applies events from Kafka to Postgres: one transaction per batch, dedupe rows inside it."""
