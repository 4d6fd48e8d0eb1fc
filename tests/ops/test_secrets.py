"""Secrets come from the environment or from files, never show in a configuration error, and are
compared in constant time against every configured key."""

from __future__ import annotations

import hmac
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from runtime.secret_strength import WeakSecret, check_secrets, is_weak
from runtime.settings import Settings
from schemas import canonical
from schemas.canonical import canonical_json, matching_key, sign
from syncpipe.embedded.process import free_port


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("SYNCPIPE_ACCESS_KEYS", "SYNCPIPE_ACCESS_KEYS_FILE", "SYNCPIPE_API_TOKEN", "SYNCPIPE_API_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("SYNCPIPE_INSTANCE_ACCESS_KEYS", "SYNCPIPE_INSTANCE_ACCESS_KEYS_FILE"):
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


def test_the_instance_calls_keys_are_their_own_several_at_once_from_the_environment_or_a_file(
    tmp_path: Path, clean_environment: pytest.MonkeyPatch
) -> None:
    clean_environment.setenv("SYNCPIPE_ACCESS_KEYS", "sync-key-2026")
    clean_environment.setenv("SYNCPIPE_INSTANCE_ACCESS_KEYS", "instance-key-2026, instance-key-2025")
    from_environment = Settings()
    assert from_environment.instance_access_key_values() == ["instance-key-2026", "instance-key-2025"]
    assert from_environment.access_key_values() == ["sync-key-2026"]

    keys = tmp_path / "instance_keys"
    keys.write_text("instance-key-2027\ninstance-key-2026\n")
    clean_environment.setenv("SYNCPIPE_INSTANCE_ACCESS_KEYS_FILE", str(keys))
    with pytest.raises(ValidationError, match="SYNCPIPE_INSTANCE_ACCESS_KEYS or SYNCPIPE_INSTANCE_ACCESS_KEYS_FILE"):
        Settings()
    clean_environment.delenv("SYNCPIPE_INSTANCE_ACCESS_KEYS")
    assert Settings().instance_access_key_values() == ["instance-key-2027", "instance-key-2026"]


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


# --- secrets too weak to serve with -----------------------------------------------------------------


def _run(command: list[str], environment: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command as a process; one that starts serving instead of refusing runs into the timeout."""
    return subprocess.run(
        [sys.executable, "-m", "syncpipe", *command],
        env={"PATH": "/usr/bin:/bin", **environment},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def serving_environment(migrated_url: str, kafka_bootstrap: str) -> dict[str, str]:
    """What each command needs to start serving, with strong secrets."""
    return {
        "DATABASE_URL": migrated_url,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SYNCPIPE_ACCESS_KEYS": secrets.token_urlsafe(24),
        "SYNCPIPE_API_TOKEN": secrets.token_urlsafe(24),
        "SYNCPIPE_GATEWAY_PORT": str(free_port()),
        "SYNCPIPE_API_PORT": str(free_port()),
        "SYNCPIPE_ACKER_OPS_PORT": "0",
        "SYNCPIPE_WORKER_OPS_PORT": "0",
    }


@pytest.mark.integration
@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        (["api"], "SYNCPIPE_API_TOKEN", "x"),
        (["api"], "SYNCPIPE_API_TOKEN", "change-me-api-token"),  # .env.example's placeholder
        (["gateway"], "SYNCPIPE_ACCESS_KEYS", "a"),
        (["gateway"], "SYNCPIPE_ACCESS_KEYS", "good-key-of-32-characters-000000,change-me-access-key"),
        (["acker"], "SYNCPIPE_ACCESS_KEYS", "short-k3y"),
        (["gateway"], "SYNCPIPE_INSTANCE_ACCESS_KEYS", "i"),  # the instance calls' keys (SPEC §9) too
        (["up"], "SYNCPIPE_INSTANCE_ACCESS_KEYS", "change-me-instance-key"),
        (["up"], "SYNCPIPE_API_TOKEN", "change-me-api-token"),  # configured, not generated: checked too
    ],
)
def test_a_weak_secret_is_refused_at_start_naming_its_variable(
    tmp_path: Path, serving_environment: dict[str, str], command: list[str], variable: str, value: str
) -> None:
    result = _run(command, {**serving_environment, variable: value}, tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert variable in result.stderr
    assert "at least 16 characters" in result.stderr
    weak = [part for part in value.split(",") if is_weak(part)]
    assert all(len(part) < 3 or part not in result.stdout + result.stderr for part in weak)


def test_a_placeholder_database_password_is_refused(tmp_path: Path) -> None:
    result = _run(["migrate"], {"DATABASE_URL": "postgresql://syncpipe:change-me-postgres-password@db/x"}, tmp_path)
    assert result.returncode == 2
    assert "DATABASE_URL: its password is the example's placeholder" in result.stderr
    assert "change-me-postgres-password" not in result.stderr


def test_every_weak_key_is_named_by_its_position_and_its_variable(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("a-strong-key-of-32-characters-00\nshort\nchangeme-please-0000000000\n")
    settings = Settings(access_keys_file=keys)
    with pytest.raises(WeakSecret) as refused:
        check_secrets(settings, access_keys=True)
    assert str(refused.value).splitlines() == [
        f"SYNCPIPE_ACCESS_KEYS_FILE (key {position}): too weak to serve with: at least 16 characters and not an "
        "example's placeholder (e.g. `openssl rand -hex 32`)"
        for position in (2, 3)
    ]
    check_secrets(settings)  # a command that does not use the keys does not care


def test_weak_instance_access_keys_are_named_apart_from_the_sync_ones() -> None:
    strong = secrets.token_hex(16)
    settings = Settings(access_keys=(strong,), instance_access_keys=(strong, "short"))  # type: ignore[arg-type]
    with pytest.raises(WeakSecret) as refused:
        check_secrets(settings, access_keys=True, instance_access_keys=True)
    assert str(refused.value).startswith("SYNCPIPE_INSTANCE_ACCESS_KEYS (key 2): too weak to serve with")
    check_secrets(settings, access_keys=True)  # the acker signs with the sync keys only


def test_strong_secrets_and_unset_ones_pass() -> None:
    check_secrets(Settings(), access_keys=True, api_token=True)
    strong = secrets.token_hex(8)  # 16 characters, the least accepted
    check_secrets(Settings(access_keys=(strong,), api_token=strong), access_keys=True, api_token=True)  # type: ignore[arg-type]
