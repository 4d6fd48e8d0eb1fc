"""canonical_json is the platform's Jackson output byte for byte (SPEC §2), compared with real Jackson.

Bodies are generated as source text, so that numbers keep the form a sender wrote (1e-7, 2.5E-4,
123456789.123, 30-digit integers) and strings their escapes (surrogate pairs, \\u001f); they hold
control characters, astral and private-use characters (in keys too: the top level sorts by UTF-16
code units), nulls at every level, repeated keys and deep nesting. Each is decoded as the gateway
decodes a body (schemas.strict_json) and put in canonical form; Jackson 2.22 on Java 17 reads the same
text into a map as the platform does and writes it.
"""

from __future__ import annotations

import json
import math
import random
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import strict_json
from schemas.canonical import canonical_json
from tests.conftest import JACKSON
from tests.schemas.jackson.platform_jackson import JacksonUnavailable, PlatformJackson
from tests.schemas.signature_vectors import ALL, EDGE

pytestmark = JACKSON


@pytest.fixture(scope="session")
def jackson(pytestconfig: pytest.Config) -> Iterator[PlatformJackson]:
    with PlatformJackson(getattr(pytestconfig, "cache", None)) as running:
        yield running


class Literal(str):
    """A JSON number exactly as written in the body."""


class Pairs(list[tuple[str, object]]):
    """A JSON object as written: its members in order, a key possibly repeated (the last one wins)."""


# Where Jackson and json.dumps part ways, or Java's and Python's orders do: every control character,
# DEL, the line separators, the last BMP and private-use characters, astral ones, quote and backslash.
_TRICKY = '\x00\x01\x08\t\n\x0b\x0c\r\x1b\x1f\x7f\u0085\u2028\u2029\ue000\uf8ff\uff5a\ufffd\uffff"\\/'
_ASTRAL = ("\U00010000", "\U0001f680", "\U000f0000", "\U0010ffff")
characters = st.one_of(
    st.characters(codec="utf-8"),
    st.sampled_from(_TRICKY),
    st.sampled_from(_ASTRAL),
    st.characters(min_codepoint=0xE000, max_codepoint=0xFFFF, codec="utf-8"),
)
texts = st.lists(characters, max_size=6).map("".join)
keys = st.one_of(texts, st.sampled_from(["tenantId", "timeStamp", "flag", "a", "A", "ｚ", "\U0001f680", "\ue000"]))

integers = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.integers(min_value=1, max_value=300).map(lambda digits: "9" * digits),
).map(lambda value: Literal(str(value)))
# Any finite double, written as Python writes it (1e-07, 1.5e+300, -0.0, 5e-324).
doubles = st.floats(allow_nan=False, allow_infinity=False).map(lambda value: Literal(repr(value)))
# As other senders write numbers: a mantissa of up to 40 digits, maybe a point, maybe an exponent.
decimals = st.builds(
    lambda sign, whole, fraction, marker, exponent: Literal(f"{sign}{whole}{fraction}{marker}{exponent}"),
    st.sampled_from(["", "-"]),
    st.one_of(st.just("0"), st.integers(min_value=1, max_value=10**20).map(str)),
    st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=20).map(lambda digits: "." + digits)),
    st.sampled_from(["", "e", "E", "e+", "E-", "e-"]),
    st.integers(min_value=0, max_value=280).map(str),
).filter(lambda literal: ("." in literal or "e" in literal.lower()) and math.isfinite(float(literal)))
# Some of the issue's own examples, and doubles Java 17 prints longer than the shortest form.
known = st.sampled_from(["1e-7", "123456789.123", "12345678.0", "2.5E-4", "100.0", "1e22", "1e23", "0.00001", "1E7"])
numbers = st.one_of(integers, doubles, decimals, known.map(Literal))

scalars = st.one_of(st.none(), st.booleans(), numbers, texts)


def objects(values: st.SearchStrategy[object]) -> st.SearchStrategy[Pairs]:
    members = st.lists(st.tuples(keys, values), max_size=5)
    repeated = st.lists(st.tuples(st.sampled_from(["k", "K", "\U0001f680"]), values), min_size=2, max_size=4)
    return st.one_of(members, repeated).map(Pairs)


json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), objects(inner)), max_leaves=15)


@st.composite
def deeply_nested(draw: st.DrawFn) -> object:
    """A value inside 20-150 lists and objects (Jackson's default limit is far deeper)."""
    value, key = draw(json_values), draw(keys)
    depth = draw(st.integers(min_value=20, max_value=150))
    shape = draw(st.integers(min_value=0, max_value=2**depth - 1))  # bit i set: level i is an object
    for level in range(depth):
        value = Pairs([(key, value)]) if shape >> level & 1 else [value]
    return value


@st.composite
def bodies(draw: st.DrawFn) -> str:
    """The source text of one body: a JSON object, on one line, ASCII-escaped or not, spaced or not."""
    members = draw(objects(json_values))
    if draw(st.booleans()):
        members.append((draw(keys), draw(deeply_nested())))
    ascii_only = draw(st.booleans())
    space = draw(st.sampled_from(["", " ", "\t"]))
    return written(members, ascii_only, space)


def written(value: object, ascii_only: bool, space: str) -> str:
    if isinstance(value, Literal):
        return str(value)
    if isinstance(value, Pairs):
        members = (
            f"{written(key, ascii_only, space)}:{space}{written(item, ascii_only, space)}" for key, item in value
        )
        return "{" + f",{space}".join(members) + "}"
    if isinstance(value, list):
        return "[" + f",{space}".join(written(item, ascii_only, space) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)  # a string, a boolean or null


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=bodies())
def test_the_canonical_form_is_jacksons(jackson: PlatformJackson, body: str) -> None:
    assert canonical_json(strict_json.loads(body)) == jackson.canonical(body)


def test_any_double_prints_as_java_17_prints_it(jackson: PlatformJackson) -> None:
    """20,000 doubles from random bits (every exponent, subnormals included): on Java 17 about 4% of
    them print with more digits than Python's shortest repr, or other ones."""
    generator = random.Random(4511638)
    values = [struct.unpack("<d", generator.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(20_000)]
    body = json.dumps({"values": [value for value in values if math.isfinite(value)]})
    assert canonical_json(strict_json.loads(body)) == jackson.canonical(body)


def test_the_reference_jackson_writes_the_vectors_canonical_forms(jackson: PlatformJackson) -> None:
    """The program stands for the platform: it computes every reference vector's canonical form."""
    for vector in (*ALL, *EDGE):
        assert jackson.canonical(vector.body.replace("\n", " ")) == vector.canonical


def test_without_java_or_maven_the_comparison_fails_rather_than_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(JacksonUnavailable, match="`java` not found"):
        PlatformJackson()
