"""The synced clientSecret opens with the merchant's key, SHA-256 or SHA-1 OAEP; nothing else does."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from signin.client_secret import ClientSecretOpener
from signin.exceptions import SignInRefused
from signin.refusals import Refusal

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sealed(secret: str, algorithm: hashes.HashAlgorithm, key: rsa.RSAPrivateKey = KEY) -> str:
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm), algorithm=algorithm, label=None)
    return base64.b64encode(key.public_key().encrypt(secret.encode(), oaep)).decode()


@pytest.mark.parametrize("algorithm", [hashes.SHA256(), hashes.SHA1()])
def test_a_secret_sealed_either_way_opens(algorithm: hashes.HashAlgorithm) -> None:
    assert ClientSecretOpener(KEY).open(sealed("s3cret", algorithm), tenant_id="t", app_id="a") == "s3cret"


def test_a_secret_for_another_key_or_not_base64_is_refused_without_showing_it() -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for value in (sealed("s3cret-value", hashes.SHA256(), other), "not base64!", "c2VjcmV0"):
        with pytest.raises(SignInRefused) as refused:
            ClientSecretOpener(KEY).open(value, tenant_id="t-1", app_id="app-1")
        assert refused.value.refusal is Refusal.SECRET_UNDECRYPTABLE
        assert value not in str(refused.value)
        assert "s3cret-value" not in str(refused.value)
