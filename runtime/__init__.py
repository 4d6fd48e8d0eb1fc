"""What every syncpipe process stands on.

Settings, logs, the ops server and probes, topics, Postgres (pool and migrations), the retry schedule
and the one rule for what counts as an outage.
"""
