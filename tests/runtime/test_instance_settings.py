"""The order lifecycle's settings (SPEC §9), as a process reads them from its environment: the base path,
the ready template and the lookup bound, each refused with its variable named when it cannot work."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from runtime.settings import Settings

_NAMES = ("SYNCPIPE_GATEWAY_BASE_PATH", "SYNCPIPE_INSTANCE_READY_URL_TEMPLATE", "SYNCPIPE_INSTANCE_LOOKUP_TIMEOUT_S")


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in _NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_defaults_serve_the_root_without_a_template_and_bound_lookups(environment: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert (settings.gateway_base_path, settings.instance_ready_url_template) == ("/", None)
    assert settings.instance_lookup_timeout_s == 2.0


@pytest.mark.parametrize(("value", "read"), [("/saas/", "/saas"), ("/", "/"), ("/a/b", "/a/b")])
def test_the_base_path_is_read_without_its_trailing_slash(
    environment: pytest.MonkeyPatch, value: str, read: str
) -> None:
    environment.setenv("SYNCPIPE_GATEWAY_BASE_PATH", value)
    assert Settings().gateway_base_path == read


@pytest.mark.parametrize("value", ["saas", "/saas?x=1", "/{x}", "/a//b", "/a b"])
def test_a_base_path_that_is_no_url_path_is_refused(environment: pytest.MonkeyPatch, value: str) -> None:
    environment.setenv("SYNCPIPE_GATEWAY_BASE_PATH", value)
    with pytest.raises(ValidationError, match="SYNCPIPE_GATEWAY_BASE_PATH must be a URL path"):
        Settings()


def test_the_ready_template_is_read_and_must_name_the_instance(environment: pytest.MonkeyPatch) -> None:
    environment.setenv("SYNCPIPE_INSTANCE_READY_URL_TEMPLATE", "https://app.example.com/i/{instanceId}")
    assert Settings().instance_ready_url_template == "https://app.example.com/i/{instanceId}"
    # Without {instanceId} every instance would get the same frontEndUrl: refused, not guessed.
    environment.setenv("SYNCPIPE_INSTANCE_READY_URL_TEMPLATE", "https://app.example.com/i/")
    with pytest.raises(ValidationError, match=r"SYNCPIPE_INSTANCE_READY_URL_TEMPLATE must contain \{instanceId\}"):
        Settings()


@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_lookup_bound_that_is_not_positive_is_refused(environment: pytest.MonkeyPatch, value: str) -> None:
    environment.setenv("SYNCPIPE_INSTANCE_LOOKUP_TIMEOUT_S", value)
    with pytest.raises(ValidationError, match="instance_lookup_timeout_s"):
        Settings()
