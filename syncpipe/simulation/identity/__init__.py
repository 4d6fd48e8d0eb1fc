"""The platform's identity service, simulated (SPEC §10): unified login, token, userinfo and logout
for the simulated tenants, on loopback, so the sign-in flow runs end to end without the platform."""

from syncpipe.simulation.identity.directory import IdentityDirectory
from syncpipe.simulation.identity.server import SimulatedIdentity, serving_identity

__all__ = ["IdentityDirectory", "SimulatedIdentity", "serving_identity"]
