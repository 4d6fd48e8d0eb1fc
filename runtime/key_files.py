"""Private keys read from PEM files (the merchant's app key, sign-in's signing keys) at start.

An unusable file is a ValueError that names the file and the kind of failure, never its content.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes


class KeyFileUnusable(ValueError):
    """`path: reason`; `reason` alone for a caller that names the setting rather than the file."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.reason = reason


def load_private_key(path: Path) -> PrivateKeyTypes:
    """The key in an unencrypted PEM file, whatever its type."""
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyFileUnusable(path, f"cannot load an unencrypted PEM private key ({type(exc).__name__})") from None


def load_rsa_private_key(path: Path) -> rsa.RSAPrivateKey:
    """The RSA key in an unencrypted PEM file."""
    key = load_private_key(path)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFileUnusable(path, "not an RSA key")
    return key
