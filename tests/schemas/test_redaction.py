"""Secrets never reach the console: secret-like keys at any depth, private keys anywhere, raw text too."""

from __future__ import annotations

import json

import pytest

from schemas.redaction import REDACTED, is_secret_key, redact, redact_text, shown_headers

PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----"


@pytest.mark.parametrize(
    "key",
    [
        "clientSecret",
        "client_secret",
        "CLIENT-SECRET",
        "password",
        "accessToken",
        "apiKey",
        "api_key",
        "privateKey",
        "x-sign",
        "sign",
        "accessKey",
        "credentials",
        "refresh_token",
    ],
)
def test_secret_like_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["clientId", "appId", "orgCode", "userName", "design", "signedUp", "name", "tenantId"])
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_values_of_secret_keys_are_replaced_at_any_depth_and_the_rest_is_kept() -> None:
    call = {
        "tenantId": "t-1",
        "appId": "app-1",
        "clientId": "client-1",
        "clientSecret": "c2VjcmV0LWNpcGhlcnRleHQ=",
        "extension": {"nested": [{"password": "hunter2", "workPlace": "北京"}]},
        "userList": [{"userName": "zs", "apiToken": None}],
    }
    assert redact(call) == {
        "tenantId": "t-1",
        "appId": "app-1",
        "clientId": "client-1",
        "clientSecret": REDACTED,
        "extension": {"nested": [{"password": REDACTED, "workPlace": "北京"}]},
        "userList": [{"userName": "zs", "apiToken": REDACTED}],
    }
    assert call["clientSecret"] == "c2VjcmV0LWNpcGhlcnRleHQ="  # a copy: the stored value is untouched


def test_a_private_key_is_redacted_whatever_its_key() -> None:
    assert redact({"note": PEM, "list": [PEM]}) == {"note": REDACTED, "list": [REDACTED]}


def test_json_nested_in_a_string_is_redacted_too_and_left_as_is_when_it_holds_no_secret() -> None:
    harmless = '[{"orgCode": "A", "orgName": "研发部"}]'
    assert redact({"orgInfoList": harmless}) == {"orgInfoList": harmless}
    nested = redact({"blob": json.dumps({"clientSecret": "abc", "appId": "x"})})
    assert json.loads(nested["blob"]) == {"clientSecret": REDACTED, "appId": "x"}


def test_raw_text_has_its_secret_pairs_masked() -> None:
    text = 'garbage {"clientSecret": "abc\\"def", "appId": "a1"} password=hunter2&user=zs token: t0k3n'
    masked = redact_text(text)
    for secret in ("abc", "hunter2", "t0k3n"):
        assert secret not in masked
    assert '"appId": "a1"' in masked
    assert "user=zs" in masked
    assert redact_text(f"junk {PEM} junk") == REDACTED


def test_headers_are_shown_as_text_with_secret_like_names_redacted() -> None:
    headers = [("x-api-token", b"s3cr3t"), ("traceparent", b"00-abc"), ("syncpipe-event-id", b"\xffe1")]
    assert shown_headers(headers) == [
        ("x-api-token", REDACTED),
        ("traceparent", "00-abc"),
        ("syncpipe-event-id", "\ufffde1"),
    ]
