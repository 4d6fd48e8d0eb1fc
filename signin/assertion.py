"""What the merchant's application receives: a short-lived JWT of who signed in, and the JWKS to check it.

Keys are PEM private keys (EC P-256 signs ES256, RSA of 2048 bits or more signs RS256), each named
by its RFC 7638 thumbprint (`kid`). The first key signs; every key is published, so a rotation
publishes the next key before it signs and keeps the previous one until its assertions expired.
Signing and key handling are joserfc's; nothing here is cryptography of our own.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from runtime.key_files import load_private_key
from signin.decision import SignedInUser

# The `typ` header of an assertion, so that no other JWT of ours can pass for one (RFC 8725 §3.11).
ASSERTION_TYPE = "syncpipe-signin+jwt"
_MIN_RSA_BITS = 2048

SigningKey = ECKey | RSAKey


def load_signing_key(path: Path) -> SigningKey:
    """The key in an unencrypted PEM file; ValueError naming the file (never its content) otherwise."""
    return _as_jwk(load_private_key(path), path)


def generated_signing_key() -> SigningKey:
    """A fresh P-256 key, for a process without configured keys (its assertions die with it)."""
    return _as_jwk(ec.generate_private_key(ec.SECP256R1()), "generated key")


def _as_jwk(key: object, source: object) -> SigningKey:
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        kid = ECKey.import_key(key).thumbprint()
        return ECKey.import_key(key, {"kid": kid, "use": "sig", "alg": "ES256"})
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= _MIN_RSA_BITS:
        kid = RSAKey.import_key(key).thumbprint()
        return RSAKey.import_key(key, {"kid": kid, "use": "sig", "alg": "RS256"})
    raise ValueError(f"{source}: a signing key must be EC P-256 or RSA of at least {_MIN_RSA_BITS} bits")


class AssertionSigner:
    """Issues assertions for one issuer (this service) and one audience (the merchant's application)."""

    def __init__(self, keys: Sequence[SigningKey], *, issuer: str, audience: str, ttl_s: float) -> None:
        if not keys:
            raise ValueError("at least one signing key")
        self._signing = keys[0]
        self._published = KeySet(list(keys))
        self.issuer = issuer
        self.audience = audience
        self._ttl_s = ttl_s

    def jwks(self) -> dict[str, Any]:
        """The public keys, as a JSON Web Key Set."""
        return dict(self._published.as_dict(private=False))

    def issue(self, user: SignedInUser, *, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": f"{user.tenant_id}/{user.user_name}",
            "tenantId": user.tenant_id,
            "userName": user.user_name,
            "name": user.name,
            "role": user.role,
            "orgCode": user.org_code,
            "app": user.app_id,
            "iat": issued,
            "nbf": issued,
            "exp": issued + max(1, round(self._ttl_s)),
            # Lets the application refuse an assertion it has already taken.
            "jti": secrets.token_urlsafe(16),
        }
        header = {"alg": self._signing.alg, "kid": self._signing.kid, "typ": ASSERTION_TYPE}
        return jwt.encode(header, claims, self._signing)
