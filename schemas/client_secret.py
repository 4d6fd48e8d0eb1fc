"""How the platform seals an application's `clientSecret` for the merchant, and opening it again.

The secret travels as base64 (white space ignored) of an RSA-OAEP ciphertext made with the
merchant's public key. The platform does not say which OAEP hash it uses: current senders use
SHA-256, older ones the SHA-1 default of Java's "OAEPPadding". A failed unpadding is detected, so
SHA-256 is tried first and SHA-1 second. The gateway opens a secret to refuse one that cannot be
opened (000101); sign-in opens it for one code exchange. Neither keeps nor logs the plaintext.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_OAEP_HASHES: tuple[type[hashes.HashAlgorithm], ...] = (hashes.SHA256, hashes.SHA1)


class SecretNotBase64(ValueError):
    """The sealed secret is not base64."""


class SecretNotOpened(ValueError):
    """The key opens the ciphertext with neither RSA-OAEP SHA-256 nor SHA-1."""


def seal_client_secret(public_key: rsa.RSAPublicKey, plaintext: str) -> str:
    """What the platform sends (SHA-256, as current senders do); the simulator plays it."""
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return base64.b64encode(public_key.encrypt(plaintext.encode(), oaep)).decode()


def open_client_secret(private_key: rsa.RSAPrivateKey, sealed: str) -> bytes:
    """The plaintext of `sealed`; SecretNotBase64 or SecretNotOpened, neither naming the value."""
    try:
        ciphertext = base64.b64decode("".join(sealed.split()), validate=True)
    except binascii.Error:
        raise SecretNotBase64("not base64") from None
    for algorithm in _OAEP_HASHES:
        oaep = padding.OAEP(mgf=padding.MGF1(algorithm()), algorithm=algorithm(), label=None)
        try:
            return private_key.decrypt(ciphertext, oaep)
        except ValueError:
            continue
    raise SecretNotOpened("opens with neither RSA-OAEP SHA-256 nor SHA-1")
