"""The app's clientSecret opened for one code exchange (SPEC §10): RSA-OAEP with the merchant's key.

Opened as the gateway's check opens it (schemas/client_secret.py). The plaintext lives only in the
request that needs it: never cached, stored, logged or put in an error.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from runtime.key_files import load_rsa_private_key
from schemas.client_secret import SecretNotBase64, SecretNotOpened, open_client_secret
from signin.exceptions import SignInRefused
from signin.refusals import Refusal


class ClientSecretOpener:
    """Decrypts synced client secrets with the merchant's private key (`SYNCPIPE_APP_PRIVATE_KEY`)."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self._private_key = private_key

    @classmethod
    def from_file(cls, path: Path) -> ClientSecretOpener:
        """ValueError naming the file (never its content) if it holds no unencrypted RSA PEM key."""
        return cls(load_rsa_private_key(path))

    def open(self, sealed: str, *, tenant_id: str, app_id: str) -> str:
        """The plaintext secret; SignInRefused(SECRET_UNDECRYPTABLE) if the key cannot open it."""
        where = f"clientSecret of app {app_id!r} of tenant {tenant_id!r}"
        try:
            return open_client_secret(self._private_key, sealed).decode("utf-8")
        except SecretNotBase64:
            raise SignInRefused(Refusal.SECRET_UNDECRYPTABLE, f"{where} is not base64") from None
        except (SecretNotOpened, UnicodeDecodeError):
            raise SignInRefused(
                Refusal.SECRET_UNDECRYPTABLE,
                f"{where} does not decrypt with SYNCPIPE_APP_PRIVATE_KEY (RSA-OAEP SHA-256 or SHA-1)",
            ) from None
