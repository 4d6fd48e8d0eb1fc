"""What can be stored (schemas.storable): no NUL anywhere, at most MAX_NESTING levels, found without recursion."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.exceptions import InvalidCall
from schemas.storable import MAX_NESTING, NUL_REASON, TOO_DEEP_REASON, refuse_unstorable


def nested(levels: int, inner: Any) -> Any:
    value = inner
    for _ in range(levels):
        value = [value]
    return value


def test_storable_data_passes() -> None:
    refuse_unstorable({"a": [1, None, {"b": "text"}], "c": nested(MAX_NESTING - 1, "x")})


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"a": ["x", "y\x00"]}, "a.1", NUL_REASON),
        ({"a": {"b\x00": 1}}, "a.b\\u0000", f"the field name {NUL_REASON}"),
        ({"a": nested(MAX_NESTING, "x")}, "a.0.0…", TOO_DEEP_REASON),
    ],
)
def test_what_cannot_be_stored_is_refused_naming_the_field(data: Any, field: str, reason: str) -> None:
    with pytest.raises(InvalidCall) as refused:
        refuse_unstorable(data)
    assert (refused.value.field, refused.value.reason) == (field, reason)


def test_a_prefix_and_level_place_a_value_found_inside_a_field() -> None:
    """As for a list decoded from a string held by `orgInfoList`, itself level 2 of the body."""
    with pytest.raises(InvalidCall) as refused:
        refuse_unstorable([{"orgName": "\x00"}], prefix=("orgInfoList",), level=2)
    assert refused.value.field == "orgInfoList.0.orgName"
    with pytest.raises(InvalidCall, match="nested too deeply"):
        refuse_unstorable(nested(MAX_NESTING, "x"), prefix=("orgInfoList",), level=2)
    refuse_unstorable(nested(MAX_NESTING - 1, "x"), prefix=("orgInfoList",), level=2)
