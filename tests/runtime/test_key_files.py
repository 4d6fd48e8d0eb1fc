"""Private keys from PEM files: any type, or RSA only; an unusable file names itself, never its content."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from runtime.key_files import load_private_key, load_rsa_private_key


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, path: Path) -> Path:
    encoding, private = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    path.write_bytes(key.private_bytes(encoding, private, serialization.NoEncryption()))
    return path


def test_keys_load_and_an_rsa_key_is_told_from_another(tmp_path: Path) -> None:
    rsa_file = pem(rsa.generate_private_key(public_exponent=65537, key_size=2048), tmp_path / "rsa.pem")
    ec_file = pem(ec.generate_private_key(ec.SECP256R1()), tmp_path / "ec.pem")
    assert isinstance(load_rsa_private_key(rsa_file), rsa.RSAPrivateKey)
    assert isinstance(load_private_key(ec_file), ec.EllipticCurvePrivateKey)
    with pytest.raises(ValueError, match=f"^{ec_file}: not an RSA key$"):
        load_rsa_private_key(ec_file)


def test_an_unusable_file_is_named_and_its_content_is_not_shown(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWNvbnRlbnQ=\n-----END PRIVATE KEY-----\n")
    encrypted = tmp_path / "encrypted.pem"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = serialization.BestAvailableEncryption(b"passphrase")
    encrypted.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    for path in (garbage, encrypted, tmp_path / "missing.pem"):
        with pytest.raises(ValueError, match="cannot load an unencrypted PEM private key") as refused:
            load_private_key(path)
        assert str(path) in str(refused.value)
        assert "c2VjcmV0" not in str(refused.value)
