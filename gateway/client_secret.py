"""The applicationSync `clientSecret` check (SPEC §3, resultCode 000101).

The platform encrypts each app credential's secret for the merchant with RSA-OAEP. A secret that
the merchant's key cannot open is refused at the door rather than stored and found useless later.
The plaintext is only proven to exist: it is neither kept nor logged.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.errors import ClientSecretUndecryptable, GatewayNotConfigured
from runtime.key_files import KeyFileUnusable, load_rsa_private_key
from runtime.settings import Settings
from schemas.calls import AnyCall, ApplicationSync, Flag
from schemas.client_secret import SecretNotBase64, SecretNotOpened, open_client_secret

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
        try:
            return cls(load_rsa_private_key(settings.app_private_key))
        except KeyFileUnusable as unusable:
            # The variable, not the path: the message is one line of a refused start.
            raise GatewayNotConfigured(f"SYNCPIPE_APP_PRIVATE_KEY: {unusable.reason}") from None

    def check(self, call: AnyCall) -> None:
        if self._private_key is None or not isinstance(call, ApplicationSync):
            return
        if call.flag not in _FLAGS_WITH_SECRET:
            return
        if not call.clientSecret:
            raise ClientSecretUndecryptable("clientSecret: missing")
        try:
            open_client_secret(self._private_key, call.clientSecret)
        except SecretNotBase64:
            raise ClientSecretUndecryptable("clientSecret: not valid base64") from None
        except SecretNotOpened:
            raise ClientSecretUndecryptable(
                "clientSecret: cannot be decrypted with the configured private key"
            ) from None
