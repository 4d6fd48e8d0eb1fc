"""The login-start cookie ties a callback to a login this browser started here, for that app, lately."""

from __future__ import annotations

import time

import pytest

from signin.login_cookie import LoginCookies


def test_a_cookie_proves_a_recent_start_for_its_app_only() -> None:
    cookies = LoginCookies.with_random_key(600)
    cookie = cookies.issue("app-1")
    assert cookies.started_for(cookie, "app-1")
    assert not cookies.started_for(cookie, "app-2")
    assert not cookies.started_for(None, "app-1")
    assert not cookies.started_for("", "app-1")


def test_an_expired_cookie_proves_nothing() -> None:
    cookies = LoginCookies.with_random_key(600)
    cookie = cookies.issue("app-1", now=time.time() - 601)
    assert not cookies.started_for(cookie, "app-1")


def test_a_cookie_of_another_key_or_altered_proves_nothing() -> None:
    ours, theirs = LoginCookies.with_random_key(600), LoginCookies.with_random_key(600)
    assert not ours.started_for(theirs.issue("app-1"), "app-1")
    header, payload, signature = ours.issue("app-1").split(".")
    assert not ours.started_for(f"{header}.{payload}.{signature[:-2]}AA", "app-1")
    assert not ours.started_for("not-a-jwt", "app-1")


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        LoginCookies(b"short", 600)
