"""The gateway fixtures of tests/gateway (an in-process gateway with a recording publisher), shared here."""

from tests.gateway.conftest import clock, gateway, gateway_settings, start_gateway

__all__ = ["clock", "gateway", "gateway_settings", "start_gateway"]
