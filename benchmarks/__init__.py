"""Benchmarks: syncpipe measured side by side with its ceiling and with the naive way, in one run.

`python -m benchmarks` starts what it needs, prints one table and writes `benchmarks/results/latest.json`
(see docs/benchmarks-howto.md). Each comparison runs in the same invocation as its baselines, so read
the ratios, not the absolute figures, when the machine is shared.
"""
