"""Secrets come from the environment or from files, never show in a configuration error, and are
compared in constant time against every configured key."""

from __future__ import annotations

import hmac
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from runtime.settings import Settings
from schemas import canonical
from schemas.canonical import canonical_json, matching_key, sign


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("SYNCPIPE_ACCESS_KEYS", "SYNCPIPE_ACCESS_KEYS_FILE", "SYNCPIPE_API_TOKEN", "SYNCPIPE_API_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_keys_and_token_are_read_from_files(tmp_path: Path, clean_environment: pytest.MonkeyPatch) -> None:
    keys, token = tmp_path / "keys", tmp_path / "token"
    keys.write_text("new-key-2026\nold-key-2025,\n")  # one per line (or comma-separated), during a rotation
    token.write_text("t0ken-from-a-file\n")
    clean_environment.setenv("SYNCPIPE_ACCESS_KEYS_FILE", str(keys))
    clean_environment.setenv("SYNCPIPE_API_TOKEN_FILE", str(token))
    settings = Settings()
    assert settings.access_key_values() == ["new-key-2026", "old-key-2025"]
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "t0ken-from-a-file"


def test_a_secret_set_twice_is_refused(tmp_path: Path, clean_environment: pytest.MonkeyPatch) -> None:
    token = tmp_path / "token"
    token.write_text("from-the-file")
    clean_environment.setenv("SYNCPIPE_API_TOKEN", "from-the-environment")
    clean_environment.setenv("SYNCPIPE_API_TOKEN_FILE", str(token))
    with pytest.raises(ValidationError, match="not both") as refused:
        Settings()
    assert "from-the-environment" not in str(refused.value)
    assert "from-the-file" not in str(refused.value)


def test_an_unreadable_secret_file_is_named_without_its_content(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("SYNCPIPE_ACCESS_KEYS_FILE", "/nonexistent/keys")
    with pytest.raises(ValidationError, match="SYNCPIPE_ACCESS_KEYS_FILE /nonexistent/keys: cannot read"):
        Settings()


def test_a_configuration_error_does_not_print_the_secrets_beside_it(tmp_path: Path) -> None:
    """`syncpipe` refuses a bad setting naming it; the values around it (a key, a password) stay out."""
    environment = {
        "PATH": "/usr/bin:/bin",
        "SYNCPIPE_ACCESS_KEYS": "k3y-that-must-not-show",
        "DATABASE_URL": "postgresql://u:passw0rd-that-must-not-show@db/x",
        "SYNCPIPE_SIGNATURE_WINDOW_S": "not-a-number",
        "SYNCPIPE_GATEWAY_MAX_IN_FLIGHT_BYTES": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "syncpipe", "migrate"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "SYNCPIPE_SIGNATURE_WINDOW_S:" in result.stderr  # the variable a person sets, not the field
    assert "must-not-show" not in result.stdout + result.stderr


def test_every_configured_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit on the first match: the time does not tell which key signed, or how many there are."""
    compared: list[tuple[bytes, bytes]] = []
    constant_time = hmac.compare_digest

    def recording_compare(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return constant_time(a, b)

    monkeypatch.setattr(canonical.hmac, "compare_digest", recording_compare)
    keys = ["key-a", "key-b", "key-c"]
    body = canonical_json({"tenantId": "t-1"})
    signature = sign("key-a", "n", "1", body).upper()  # case does not matter
    assert matching_key(keys, "n", "1", body, signature) == 0
    assert len(compared) == len(keys)
