"""The on-call engineer's recovery commands: `syncpipe replay | rebuild | dlq | events` (SPEC §8)."""
