"""schemas.strict_json: what json.loads would turn into something else is refused, with the reason."""

from __future__ import annotations

import pytest

from schemas import strict_json


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("NaN", "NaN is not a JSON number"),
        ('{"a": [Infinity]}', "Infinity is not a JSON number"),
        ('{"a": -Infinity}', "-Infinity is not a JSON number"),
        ('{"a": 1e400}', "1e400 is out of range"),
        ("[-2.5E+999]", "-2.5E+999 is out of range"),
        ('{"a": "\\udc00"}', "unpaired UTF-16 surrogate escape"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"a": 1', "Expecting ',' delimiter at line 1 column 8"),
    ],
)
def test_what_json_loads_would_change_or_choke_on_is_refused(text: str, reason: str) -> None:
    with pytest.raises(strict_json.NotJson) as refused:
        strict_json.loads(text)
    assert reason in str(refused.value)


def test_ordinary_json_decodes_as_json_loads_does() -> None:
    text = '{"a": [1, 2.5, -1e308, 1e-400, "\\ud83d\\ude00", null, true], "b": {"c": "部门"}}'
    assert strict_json.loads(text) == {"a": [1, 2.5, -1e308, 0.0, "😀", None, True], "b": {"c": "部门"}}


def test_nesting_too_deep_has_its_own_type() -> None:
    with pytest.raises(strict_json.NestedTooDeeply):
        strict_json.loads("[" * 100_000 + "]" * 100_000)
