"""The gateway: turns a signed sync call into an event durably stored in Kafka, and nothing else.

`serve_gateway` (in `gateway.app`) is the process entry point; `build_app` assembles the HTTP
application from its parts (verifier, client-secret checker, publisher) without connecting to anything.
"""
