"""The applicationSync `clientSecret` check (SPEC §3, resultCode 000101).

The platform encrypts each app credential's secret for the merchant with RSA-OAEP. A secret that
the merchant's key cannot open is refused at the door rather than stored and found useless later.
The plaintext is only proven to exist: it is neither kept nor logged.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from gateway.errors import ClientSecretUndecryptable, GatewayNotConfigured
from runtime.settings import Settings
from schemas.calls import AnyCall, ApplicationSync, Flag

# Senders differ: current ones use OAEP with SHA-256, older ones the SHA-1 default of Java's "OAEPPadding".
_OAEP_HASHES: tuple[type[hashes.HashAlgorithm], ...] = (hashes.SHA256, hashes.SHA1)
# Only adds and modifications carry a credential; a delete names the app and nothing more.
_FLAGS_WITH_SECRET = frozenset({Flag.ADD, Flag.MODIFY})


class ClientSecretChecker:
    """Refuses applicationSync adds/modifications whose secret does not decrypt; no key configured = no check."""

    def __init__(self, private_key: rsa.RSAPrivateKey | None) -> None:
        self._private_key = private_key

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientSecretChecker:
        """Load `settings.app_private_key` (an unencrypted PEM file) once; GatewayNotConfigured if it is unusable."""
        if settings.app_private_key is None:
            return cls(None)
        return cls(load_private_key(settings.app_private_key))

    def check(self, call: AnyCall) -> None:
        if self._private_key is None or not isinstance(call, ApplicationSync):
            return
        if call.flag not in _FLAGS_WITH_SECRET:
            return
        if not call.clientSecret:
            raise ClientSecretUndecryptable("clientSecret: missing")
        try:
            ciphertext = base64.b64decode("".join(call.clientSecret.split()), validate=True)
        except binascii.Error:
            raise ClientSecretUndecryptable("clientSecret: not valid base64") from None
        for algorithm in _OAEP_HASHES:
            oaep = padding.OAEP(mgf=padding.MGF1(algorithm()), algorithm=algorithm(), label=None)
            try:
                self._private_key.decrypt(ciphertext, oaep)
            except ValueError:
                continue
            return
        raise ClientSecretUndecryptable("clientSecret: cannot be decrypted with the configured private key")


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    """The RSA key of the PEM file at `path`; GatewayNotConfigured naming SYNCPIPE_APP_PRIVATE_KEY (not
    the path, not what the file holds) if it cannot be used."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise GatewayNotConfigured(
            f"SYNCPIPE_APP_PRIVATE_KEY: cannot load an unencrypted PEM private key ({type(exc).__name__})"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise GatewayNotConfigured("SYNCPIPE_APP_PRIVATE_KEY: not an RSA key")
    return key
