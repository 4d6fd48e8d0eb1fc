"""One root for what can stop a simulation run before it has a report to give."""


class SimulationError(Exception):
    """Root of the errors raised by `syncpipe.simulation`."""


class GatewayUnreachable(SimulationError):
    """The first call could not reach the gateway at all: the pipeline is not up."""


class ReadApiError(SimulationError):
    """The read API answered something other than the contract of `snapshot.py`, or could not be reached."""


class AckEndpointUnavailable(SimulationError):
    """The ack endpoint could not be served (the port is taken, the address is not ours)."""
