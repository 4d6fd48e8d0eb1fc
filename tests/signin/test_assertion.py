"""Assertions verify with a standard JOSE library (PyJWT here, joserfc signs) against the JWKS."""

from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signin.assertion import ASSERTION_TYPE, AssertionSigner, generated_signing_key, load_signing_key
from signin.decision import SignedInUser

ALICE = SignedInUser("t-1", "alice", "Alice Liddell", "admin", "D7", "app-1")
ISSUER, AUDIENCE = "https://signin.example.com", "https://app.example.com/sso"


def pem_file(tmp_path: Path, name: str, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> Path:
    path = tmp_path / name
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return path


def verified(token: str, jwks: dict[str, object]) -> dict[str, object]:
    """What an application does: pick the key by `kid` from the JWKS, check signature, audience, expiry."""
    keys = jwt.PyJWKSet.from_dict(jwks)
    key = keys[jwt.get_unverified_header(token)["kid"]]
    claims: dict[str, object] = jwt.decode(
        token, key.key, algorithms=["ES256", "RS256"], audience=AUDIENCE, issuer=ISSUER
    )
    return claims


def test_an_assertion_carries_who_signed_in_and_verifies_with_the_jwks() -> None:
    signer = AssertionSigner([generated_signing_key()], issuer=ISSUER, audience=AUDIENCE, ttl_s=60)
    token = signer.issue(ALICE)
    claims = verified(token, signer.jwks())
    assert {name: claims[name] for name in ("tenantId", "userName", "name", "role", "orgCode", "app")} == {
        "tenantId": "t-1",
        "userName": "alice",
        "name": "Alice Liddell",
        "role": "admin",
        "orgCode": "D7",
        "app": "app-1",
    }
    assert 59 <= int(claims["exp"]) - int(claims["iat"]) <= 60  # type: ignore[call-overload]
    assert jwt.get_unverified_header(token)["typ"] == ASSERTION_TYPE
    assert all("d" not in key for key in signer.jwks()["keys"])  # public halves only


def test_an_expired_or_foreign_assertion_does_not_verify() -> None:
    signer = AssertionSigner([generated_signing_key()], issuer=ISSUER, audience=AUDIENCE, ttl_s=60)
    with pytest.raises(jwt.ExpiredSignatureError):
        verified(signer.issue(ALICE, now=time.time() - 120), signer.jwks())
    other = AssertionSigner([generated_signing_key()], issuer=ISSUER, audience=AUDIENCE, ttl_s=60)
    with pytest.raises(KeyError):
        verified(other.issue(ALICE), signer.jwks())  # its kid is not published here
    elsewhere = AssertionSigner(
        [generated_signing_key()], issuer=ISSUER, audience="https://other.example.com", ttl_s=60
    )
    with pytest.raises(jwt.InvalidAudienceError):
        verified(elsewhere.issue(ALICE), elsewhere.jwks())


def test_a_rotation_keeps_both_keys_published_so_either_signature_verifies(tmp_path: Path) -> None:
    old = pem_file(tmp_path, "old.pem", ec.generate_private_key(ec.SECP256R1()))
    new = pem_file(tmp_path, "new.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    before = AssertionSigner([load_signing_key(old), load_signing_key(new)], issuer=ISSUER, audience=AUDIENCE, ttl_s=60)
    after = AssertionSigner([load_signing_key(new), load_signing_key(old)], issuer=ISSUER, audience=AUDIENCE, ttl_s=60)
    assert {key["kid"] for key in before.jwks()["keys"]} == {key["kid"] for key in after.jwks()["keys"]}
    assert len(after.jwks()["keys"]) == 2
    issued_before, issued_after = before.issue(ALICE), after.issue(ALICE)
    assert jwt.get_unverified_header(issued_before)["alg"] == "ES256"
    assert jwt.get_unverified_header(issued_after)["alg"] == "RS256"
    for token in (issued_before, issued_after):
        assert verified(token, after.jwks())["userName"] == "alice"


def test_unusable_signing_keys_are_refused_naming_the_file(tmp_path: Path) -> None:
    small = pem_file(tmp_path, "small.pem", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(ValueError, match=r"small\.pem: a signing key must be EC P-256 or RSA"):
        load_signing_key(small)
    with pytest.raises(ValueError, match=r"missing\.pem: cannot load"):
        load_signing_key(tmp_path / "missing.pem")
