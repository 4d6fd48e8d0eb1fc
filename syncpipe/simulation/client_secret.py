"""Sealing applicationSync secrets for the merchant, as the platform does (RSA-OAEP, SHA-256).

A gateway configured with the merchant's private key refuses (000101) a `clientSecret` it cannot
decrypt, so a run against it must seal each generated secret with the matching public key. OAEP
is randomised: sealed histories are no longer identical from one run to the next (their event ids
differ), which is harmless because each run names its own tenants.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from schemas.calls import Interface
from schemas.client_secret import seal_client_secret
from syncpipe.simulation.exceptions import SimulationError
from syncpipe.simulation.generator import PlatformCall


def load_public_key(path: Path) -> rsa.RSAPublicKey:
    """The RSA public key in a PEM file; a private key file works too (its public half is used)."""
    try:
        data = path.read_bytes()
        try:
            key: object = serialization.load_pem_public_key(data)
        except ValueError:
            key = serialization.load_pem_private_key(data, password=None).public_key()
    except (OSError, ValueError, TypeError) as exc:
        raise SimulationError(f"{path}: cannot load an RSA key from it ({exc})") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise SimulationError(f"{path}: not an RSA key")
    return key


def seal_client_secrets(calls: Iterable[PlatformCall], key: rsa.RSAPublicKey) -> list[PlatformCall]:
    """`calls` with every non-empty applicationSync `clientSecret` replaced by its base64 ciphertext."""
    return [_sealed(call, key) for call in calls]


def _sealed(call: PlatformCall, key: rsa.RSAPublicKey) -> PlatformCall:
    secret = call.body.get("clientSecret")
    if call.interface != Interface.APPLICATION_SYNC or not isinstance(secret, str) or not secret:
        return call
    return call._replace(body={**call.body, "clientSecret": seal_client_secret(key, secret)})
