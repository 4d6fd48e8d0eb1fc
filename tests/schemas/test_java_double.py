"""schemas.java_double: Java 17's Double.toString, quirks included (figures printed by that JDK)."""

from __future__ import annotations

import math

import pytest

from schemas.java_double import java_double_string

PRINTED_BY_JAVA_17 = [
    # SPEC §2's examples and the signature vectors' numbers.
    (1e-7, "1.0E-7"),
    (123456789.123, "1.23456789123E8"),
    (12345678.0, "1.2345678E7"),
    (2.5e-4, "2.5E-4"),
    (100.0, "100.0"),
    (1e22, "1.0E22"),
    (0.00001, "1.0E-5"),
    # Where plain notation ends: 10^-3 <= |d| < 10^7.
    (0.001, "0.001"),
    (0.0001, "1.0E-4"),
    (9999999.0, "9999999.0"),
    (1e7, "1.0E7"),
    (-1.5, "-1.5"),
    (0.0, "0.0"),
    (-0.0, "-0.0"),
    (0.1 + 0.2, "0.30000000000000004"),
    (1.7976931348623157e308, "1.7976931348623157E308"),
    (2.2250738585072014e-308, "2.2250738585072014E-308"),
    # JDK-4511638 (fixed in Java 19): not the shortest digits, or not the nearest ones.
    (1e23, "9.999999999999999E22"),
    (2e23, "1.9999999999999998E23"),
    (2.0**60, "1.15292150460684698E18"),
    (9.619531461442533e16, "9.6195314614425328E16"),
    (-5.684341886080802e-14, "-5.6843418860808015E-14"),
    (5e-324, "4.9E-324"),
    (6.3e-322, "6.32E-322"),
]


@pytest.mark.parametrize(("value", "printed"), PRINTED_BY_JAVA_17, ids=[text for _, text in PRINTED_BY_JAVA_17])
def test_a_double_prints_as_java_17_prints_it(value: float, printed: str) -> None:
    assert java_double_string(value) == printed


def test_what_it_prints_reads_back_as_the_same_double() -> None:
    for value, _ in PRINTED_BY_JAVA_17:
        assert float(java_double_string(value)) == value


def test_the_values_that_are_not_json_print_as_java_prints_them() -> None:
    assert [java_double_string(value) for value in (math.inf, -math.inf, math.nan)] == ["Infinity", "-Infinity", "NaN"]
