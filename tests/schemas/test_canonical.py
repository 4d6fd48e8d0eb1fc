"""schemas.canonical.canonical_json on the cases where Jackson and naive JSON part ways (SPEC §2).

The property test against real Jackson is tests/schemas/test_canonical_vs_jackson.py; these name
each rule, and need no Java.
"""

from __future__ import annotations

import math

import pytest

from schemas import canonical as canonical_module
from schemas import strict_json
from schemas.canonical import canonical_json


def canonical(text: str) -> str:
    return canonical_json(strict_json.loads(text))


def test_top_level_keys_sort_by_utf16_code_units() -> None:
    # U+1F680 is the surrogate pair D83D DE80: below U+FF5A in Java, above it by code point.
    assert canonical('{"\\uff5a": 1, "b": 2, "\\ud83d\\ude80": 3, "\\ue000": 4}') == '{"b":2,"🚀":3,"\ue000":4,"ｚ":1}'


def test_nested_keys_keep_the_order_received() -> None:
    assert (
        canonical('{"n": {"z": 1, "\\uff5a": 2, "\\ud83d\\ude80": 3, "a": 4}}') == '{"n":{"z":1,"ｚ":2,"🚀":3,"a":4}}'
    )


def test_top_level_nulls_are_dropped_nested_ones_kept() -> None:
    assert canonical('{"a": null, "b": {"c": null}, "d": [null]}') == '{"b":{"c":null},"d":[null]}'


def test_numbers_with_a_fraction_or_an_exponent_print_as_java_doubles() -> None:
    body = '{"a": [1e-7, 2.5E-4, 123456789.123, 12345678.0, 100.0, 1E22, -0.0, 0.00001, 1e23]}'
    expected = '{"a":[1.0E-7,2.5E-4,1.23456789123E8,1.2345678E7,100.0,1.0E22,-0.0,1.0E-5,9.999999999999999E22]}'
    assert canonical(body) == expected


def test_integers_stay_exact() -> None:
    assert canonical('{"a": [0, -0, 123456789012345678901234567890, -9007199254740993]}') == (
        '{"a":[0,0,123456789012345678901234567890,-9007199254740993]}'
    )


def test_control_characters_are_escaped_as_jackson_escapes_them() -> None:
    body = '{"a": "\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f\\u007f\\u2028"}'
    assert canonical(body) == '{"a":"\\u0000\\b\\t\\n\\u000B\\f\\r\\u001F\x7f\u2028"}'


def test_what_only_looks_like_a_float_or_an_escape_inside_a_string_is_kept() -> None:
    body = '{"a": "x:1.5,[2e-7,3e+8", "b": "\\\\u001f", "c": "\\\\\\u001f", "d": 1}'
    assert canonical(body) == '{"a":"x:1.5,[2e-7,3e+8","b":"\\\\u001f","c":"\\\\\\u001F","d":1}'


def test_an_ordinary_body_is_what_json_dumps_writes() -> None:
    body = '{"tenantId": "t-1", "name": "企业 A", "flag": 1, "list": [{"z": "1.5", "a": true}]}'
    assert canonical(body) == '{"flag":1,"list":[{"z":"1.5","a":true}],"name":"企业 A","tenantId":"t-1"}'


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_what_is_not_json_is_refused(value: float) -> None:
    with pytest.raises(ValueError, match="JSON"):
        canonical_json({"a": [value]})


class NoRewrite:
    def sub(self, *_: object) -> str:
        raise AssertionError("an ordinary body took the rewrite meant for floats")


@pytest.mark.parametrize(
    "body",
    [
        '{"tenantId": "t-3e-4f", "orderId": "123e4567-e89b-12d3-a456-426614174000", "flag": 1}',
        '{"name": "v1.2.3", "domainName": "https://10.0.0.1:8443/x.y", "testFlag": 0, "list": [1, -2]}',
        '{"clientSecret": "a1e+B2e-C3.D4==", "n": [12, 3]}',
    ],
)
def test_an_ordinary_body_with_float_like_ids_takes_the_fast_path(body: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(canonical_module, "_RUN_OR_FLOAT", NoRewrite())
    assert canonical(body) == canonical_module.json.dumps(
        dict(sorted(strict_json.loads(body).items())), ensure_ascii=False, separators=(",", ":")
    )
