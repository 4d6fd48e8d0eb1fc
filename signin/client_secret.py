"""The app's clientSecret opened for one code exchange (SPEC §10): RSA-OAEP with the merchant's key.

The platform does not say which OAEP hash it uses; a failed unpadding is detected, so SHA-256 is
tried first and SHA-1 (the default of Java's "OAEPPadding") second, as the gateway's check does.
The plaintext lives only in the request that needs it: never cached, stored, logged or put in an
error.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from signin.exceptions import SignInRefused
from signin.refusals import Refusal

_OAEP_HASHES: tuple[type[hashes.HashAlgorithm], ...] = (hashes.SHA256, hashes.SHA1)


class ClientSecretOpener:
    """Decrypts synced client secrets with the merchant's private key (`SYNCPIPE_APP_PRIVATE_KEY`)."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self._private_key = private_key

    @classmethod
    def from_file(cls, path: Path) -> ClientSecretOpener:
        """ValueError naming the file (never its content) if it holds no unencrypted RSA PEM key."""
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise ValueError(f"{path}: cannot load an unencrypted PEM private key ({type(exc).__name__})") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path}: not an RSA private key")
        return cls(key)

    def open(self, sealed: str, *, tenant_id: str, app_id: str) -> str:
        """The plaintext secret; SignInRefused(SECRET_UNDECRYPTABLE) if the key cannot open it."""
        where = f"clientSecret of app {app_id!r} of tenant {tenant_id!r}"
        try:
            ciphertext = base64.b64decode("".join(sealed.split()), validate=True)
        except binascii.Error:
            raise SignInRefused(Refusal.SECRET_UNDECRYPTABLE, f"{where} is not base64") from None
        for algorithm in _OAEP_HASHES:
            oaep = padding.OAEP(mgf=padding.MGF1(algorithm()), algorithm=algorithm(), label=None)
            try:
                plaintext = self._private_key.decrypt(ciphertext, oaep)
            except ValueError:
                continue
            try:
                return plaintext.decode("utf-8")
            except UnicodeDecodeError:
                break
        raise SignInRefused(
            Refusal.SECRET_UNDECRYPTABLE,
            f"{where} does not decrypt with SYNCPIPE_APP_PRIVATE_KEY (RSA-OAEP SHA-256 or SHA-1)",
        )
