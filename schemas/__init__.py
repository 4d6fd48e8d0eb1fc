"""The wire contract of syncpipe: the five sync calls, canonical JSON and its signature, event
identity, the event envelope written to Kafka and the acknowledgement sent back to the platform.

Pure code: no I/O, shared by the gateway, the workers and the tools.
"""
