"""A sealed clientSecret opens with the merchant's key, SHA-256 or SHA-1 OAEP, white space ignored;
nothing else opens, and the errors never hold the value."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from schemas.client_secret import SecretNotBase64, SecretNotOpened, open_client_secret, seal_client_secret

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sealed_with(algorithm: hashes.HashAlgorithm, plaintext: bytes, key: rsa.RSAPrivateKey = KEY) -> str:
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm), algorithm=algorithm, label=None)
    return base64.b64encode(key.public_key().encrypt(plaintext, oaep)).decode()


def test_what_the_platform_seals_opens() -> None:
    assert open_client_secret(KEY, seal_client_secret(KEY.public_key(), "s3cret 北京")) == "s3cret 北京".encode()


@pytest.mark.parametrize("algorithm", [hashes.SHA256(), hashes.SHA1()])
def test_either_oaep_hash_opens_and_line_breaks_in_the_base64_are_ignored(algorithm: hashes.HashAlgorithm) -> None:
    sealed = sealed_with(algorithm, b"s3cret")
    assert open_client_secret(KEY, "\n".join(sealed[i : i + 64] for i in range(0, len(sealed), 64))) == b"s3cret"


def test_not_base64_and_another_keys_secret_are_told_apart_without_the_value() -> None:
    with pytest.raises(SecretNotBase64) as not_base64:
        open_client_secret(KEY, "s3cret-value!")
    assert "s3cret-value" not in str(not_base64.value)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for sealed in (
        sealed_with(hashes.SHA256(), b"s3cret-value", other),
        sealed_with(hashes.SHA512(), b"x"),
        "c2VjcmV0",
    ):
        with pytest.raises(SecretNotOpened) as not_opened:
            open_client_secret(KEY, sealed)
        assert sealed not in str(not_opened.value)
