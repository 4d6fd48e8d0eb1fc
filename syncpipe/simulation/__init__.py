"""The platform simulator: a reference model of the converged state (SPEC §5), a generator of
realistic call histories, and `syncpipe simulate`, which plays them against a running pipeline and
compares what the read API serves with the model.
"""
