"""Secrets too weak to serve with: refused at start, named by their variable, never shown.

A secret shorter than MIN_SECRET_LENGTH characters, or one of the placeholders that examples ship
(`change-me-…`), is refused by the command that would use it: the gateway for the access keys and
the instance access keys, the acker for the access keys, the read API for its token, every command
that connects to Postgres for the placeholder password. `syncpipe up` generates strong ones for what
is not configured; what is configured it checks like the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from runtime.settings import Settings

# 16 random characters of the alphabets these are made of (hex, base64url) are 64 to 96 bits: out of
# reach of guessing over HTTP. A person's short word is not: `x` and `a` are refused.
MIN_SECRET_LENGTH = 16
# How the shipped examples spell a value to replace (`.env.example`: change-me-access-key, …).
_PLACEHOLDER_PREFIXES = ("change-me", "changeme", "change_me", "replace-me", "replaceme")


class WeakSecret(ValueError):
    """A configured secret is too weak; the message names its variable and never its value."""


def is_weak(secret: str) -> bool:
    return len(secret) < MIN_SECRET_LENGTH or is_placeholder(secret)


def is_placeholder(secret: str) -> bool:
    return secret.strip().lower().startswith(_PLACEHOLDER_PREFIXES)


def check_secrets(
    settings: Settings, *, access_keys: bool = False, instance_access_keys: bool = False, api_token: bool = False
) -> None:
    """Raise WeakSecret naming every weak secret that the caller uses (`access_keys`, `instance_access_keys`,
    `api_token`) and a placeholder database password; unset ones are the caller's to require."""
    problems: list[str] = []
    if access_keys:
        variable = "SYNCPIPE_ACCESS_KEYS_FILE" if settings.access_keys_file else "SYNCPIPE_ACCESS_KEYS"
        problems += _weak_keys(variable, settings.access_key_values())
    if instance_access_keys:
        variable = (
            "SYNCPIPE_INSTANCE_ACCESS_KEYS_FILE"
            if settings.instance_access_keys_file
            else "SYNCPIPE_INSTANCE_ACCESS_KEYS"
        )
        problems += _weak_keys(variable, settings.instance_access_key_values())
    if api_token and settings.api_token is not None and is_weak(settings.api_token.get_secret_value()):
        problems.append(_weakness("SYNCPIPE_API_TOKEN_FILE" if settings.api_token_file else "SYNCPIPE_API_TOKEN"))
    if settings.database_url is not None and is_placeholder(_password(settings.database_url.get_secret_value())):
        problems.append("DATABASE_URL: its password is the example's placeholder; set a password of your own")
    if problems:
        raise WeakSecret(_lines(problems))


def _weak_keys(variable: str, keys: Iterable[str]) -> list[str]:
    return [_weakness(f"{variable} (key {position})") for position, key in enumerate(keys, 1) if is_weak(key)]


def _weakness(variable: str) -> str:
    return (
        f"{variable}: too weak to serve with: at least {MIN_SECRET_LENGTH} characters and not an example's "
        "placeholder (e.g. `openssl rand -hex 32`)"
    )


def _password(url: str) -> str:
    try:
        return urlsplit(url).password or ""
    except ValueError:  # a URL that does not parse: the connection will say so
        return ""


def _lines(problems: Iterable[str]) -> str:
    return "\n".join(problems)
