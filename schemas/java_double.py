"""Java 17's `Double.toString(double)`, digit for digit: how the platform's Jackson prints a JSON number
that has a fraction or an exponent (it reads one as a Java double).

Not Python's `repr` and not always the shortest digits that read back as the same double: up to
Java 18, `Double.toString` runs the old `jdk.internal.math.FloatingDecimal` conversion, which sometimes
prints more digits than needed or a neighbour's digits (JDK-4511638, fixed only in Java 19): 1e23 prints
`9.999999999999999E22`, 2^60 `1.15292150460684698E18`, 5e-324 `4.9E-324`, about 4% of random doubles
differ from the shortest form. The platform signs over its own output, so we reproduce that algorithm
exactly, quirks included, rather than a correct one. This module follows it step by step:

- integers below 2^63 (`_integer_digits`) are printed from the integer itself, rounded to the digits
  that a double can tell apart;
- everything else (`_generated_digits`) generates digits of value / 10^k with a symmetric stopping
  test (remainder within half an ulp), in 32-bit, 64-bit or unbounded arithmetic depending on the
  estimated sizes; the 32- and 64-bit variants keep Java's overflow behaviour and their strict
  comparison (the unbounded one compares with `>=`), since that is what decides some last digits;
- `_layout` places the point: plain between 10^-3 and 10^7, computerized scientific notation
  otherwise, always with a digit after the point.

Pure: no I/O, no state. The property test (tests/schemas/test_canonical_vs_jackson.py) compares it
with the JDK it runs on, which must be 17.
"""

from __future__ import annotations

import math
import struct

_SIGNIFICAND_BITS = 52  # stored bits of a double's significand; FloatingDecimal's EXP_SHIFT
_HIDDEN_BIT = 1 << _SIGNIFICAND_BITS
_EXPONENT_BIAS = 1023
_MAX_SMALL_BIN_EXP = 62  # integer-valued doubles up to this binary exponent take the integer path ...
_MIN_SMALL_BIN_EXP = -21  # ... and from this one (Java's -(63 / 3))

# floor(log10(2^p)) for p in 0..63 as FloatingDecimal tabulates it (its entry 63 is 19, not 18; only
# entries up to 8 are ever read); 0 for p < 2.
_INSIGNIFICANT_DIGITS = (
    *(0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7),
    *(8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 14, 14, 14),
    *(15, 15, 15, 15, 16, 16, 16, 17, 17, 17, 18, 18, 18, 19),
)
# FloatingDecimal's estimate of the bits of 5^i (ceil(log2(5^i)), with its own rounding), for i < 27;
# it decides which arithmetic the digit loop uses, so it is copied, not computed.
_FIVE_POWER_BITS = (
    0,
    3,
    5,
    7,
    10,
    12,
    14,
    17,
    19,
    21,
    24,
    26,
    28,
    31,
    33,
    35,
    38,
    40,
    42,
    45,
    47,
    49,
    52,
    54,
    56,
    59,
    61,
)


def java_double_string(value: float) -> str:
    """What Java 17's `Double.toString(value)` returns, e.g. 1e-07 -> "1.0E-7", 100.0 -> "100.0"."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    bits = int.from_bytes(struct.pack("<d", value), "little")
    sign = "-" if bits >> 63 else ""
    significand = bits & (_HIDDEN_BIT - 1)
    biased_exponent = (bits >> _SIGNIFICAND_BITS) & 0x7FF
    if biased_exponent == 0:
        if significand == 0:
            return sign + "0.0"
        # Subnormal: normalised so that its leading bit sits where the hidden bit would.
        significant_bits = significand.bit_length()
        shift = _SIGNIFICAND_BITS + 1 - significant_bits
        significand <<= shift
        binary_exponent = 1 - shift - _EXPONENT_BIAS
    else:
        significand |= _HIDDEN_BIT
        significant_bits = _SIGNIFICAND_BITS + 1
        binary_exponent = biased_exponent - _EXPONENT_BIAS
    digits, decimal_exponent = _decimal_digits(binary_exponent, significand, significant_bits)
    return sign + _layout(digits, decimal_exponent)


def _decimal_digits(binary_exponent: int, significand: int, significant_bits: int) -> tuple[str, int]:
    """Digits d1 d2 ... and exponent e such that the value is about 0.d1d2... * 10^e (FloatingDecimal.dtoa)."""
    trailing_zeros = (significand & -significand).bit_length() - 1
    fraction_bits = _SIGNIFICAND_BITS + 1 - trailing_zeros  # bits from the leading one to the last one
    tiny_bits = max(0, fraction_bits - binary_exponent - 1)  # bits right of the binary point
    if tiny_bits == 0 and _MIN_SMALL_BIN_EXP <= binary_exponent <= _MAX_SMALL_BIN_EXP:
        return _integer_digits(binary_exponent, significand, significant_bits)
    return _generated_digits(
        binary_exponent,
        significand,
        significant_bits,
        trailing_zeros=trailing_zeros,
        fraction_bits=fraction_bits,
        tiny_bits=tiny_bits,
    )


def _integer_digits(binary_exponent: int, significand: int, significant_bits: int) -> tuple[str, int]:
    """An integer value below 2^63: its own digits, the last few rounded off (half up) when a double
    that large cannot tell them apart (FloatingDecimal.developLongDigits)."""
    power = binary_exponent - significant_bits - 1
    insignificant = _INSIGNIFICANT_DIGITS[power] if binary_exponent > significant_bits and 1 < power < 64 else 0
    if binary_exponent >= _SIGNIFICAND_BITS:
        value = significand << (binary_exponent - _SIGNIFICAND_BITS)
    else:
        value = significand >> (_SIGNIFICAND_BITS - binary_exponent)
    if insignificant:
        scale = 10**insignificant
        value, residue = divmod(value, scale)
        if residue >= scale // 2:
            value += 1
    text = str(value)
    return text.rstrip("0"), insignificant + len(text)


def _generated_digits(
    binary_exponent: int,
    significand: int,
    significant_bits: int,
    *,
    trailing_zeros: int,
    fraction_bits: int,
    tiny_bits: int,
) -> tuple[str, int]:
    """Digits of B / S, stopping once the remainder is within M (half an ulp) of either neighbour."""
    decimal_exponent = _estimated_decimal_exponent(significand, binary_exponent)
    # B = value * 2^tiny_bits * 10^max(0, -e), S = 10^max(0, e) * 2^tiny_bits, M = half an ulp scaled
    # like B; each kept as its powers of 5 and of 2.
    b5 = max(0, -decimal_exponent)
    b2 = b5 + tiny_bits + binary_exponent
    s5 = max(0, decimal_exponent)
    s2 = s5 + tiny_bits
    m5 = b5
    m2 = b2 - significant_bits
    significand >>= trailing_zeros
    b2 -= fraction_bits - 1
    common = min(b2, s2)
    b2 -= common
    s2 -= common
    m2 -= common
    if fraction_bits == 1:  # a power of two: the next value below is only half as far (Java's "HACK")
        m2 -= 1
    if m2 < 0:
        b2 -= m2
        s2 -= m2
        m2 = 0
    b_bits = fraction_bits + b2 + (_FIVE_POWER_BITS[b5] if b5 < len(_FIVE_POWER_BITS) else b5 * 3)
    ten_s_bits = s2 + 1 + (_FIVE_POWER_BITS[s5 + 1] if s5 + 1 < len(_FIVE_POWER_BITS) else (s5 + 1) * 3)
    if b_bits < 64 and ten_s_bits < 64:
        width = 32 if b_bits < 32 and ten_s_bits < 32 else 64
        b = _wrap(_wrap(significand * 5**b5, width) << b2, width)
        s = _wrap(5**s5 << s2, width)
        m = _wrap(5**m5 << m2, width)
        digits, decimal_exponent, low, high, difference = _fixed_width_loop(b, s, m, decimal_exponent, width)
    else:
        b = significand * 5**b5 << b2
        s = 5**s5 << s2
        m = 5**m5 << m2
        digits, decimal_exponent, low, high, difference = _unbounded_loop(b, s, m, decimal_exponent)
    if high and (not low or difference > 0 or (difference == 0 and digits[-1] % 2 == 1)):
        return _rounded_up(digits, decimal_exponent + 1)
    return "".join(map(str, digits)), decimal_exponent + 1


def _fixed_width_loop(b: int, s: int, m: int, exponent: int, width: int) -> tuple[list[int], int, bool, bool, int]:
    """The digit loop in Java's int (width 32) or long (width 64) arithmetic, overflows included."""
    tens = _wrap(s * 10, width)
    q, b = divmod(b, s)
    b *= 10
    m = _wrap(m * 10, width)
    low = b < m
    high = _wrap(b + m, width) > tens
    digits: list[int] = []
    if q == 0 and not high:  # the estimated exponent was one too high
        exponent -= 1
    else:
        digits.append(q)
    if exponent < -3 or exponent >= 8:  # scientific notation always shows a second digit
        low = high = False
    while not low and not high:
        q, b = divmod(b, s)
        b *= 10
        m = _wrap(m * 10, width)
        if m > 0:
            low = b < m
            high = _wrap(b + m, width) > tens
        else:  # m overflowed: Java takes it as certainly larger than both
            low = high = True
        digits.append(q)
    return digits, exponent, low, high, 2 * b - tens


def _unbounded_loop(b: int, s: int, m: int, exponent: int) -> tuple[list[int], int, bool, bool, int]:
    """The digit loop in FDBigInteger arithmetic: exact, and `high` compares with >= where the others use >."""
    tens = s * 10
    q, b = divmod(b, s)
    b *= 10
    m *= 10
    low = b < m
    high = b + m >= tens
    digits: list[int] = []
    if q == 0 and not high:
        exponent -= 1
    else:
        digits.append(q)
    if exponent < -3 or exponent >= 8:
        low = high = False
    while not low and not high:
        q, b = divmod(b, s)
        b *= 10
        m *= 10
        low = b < m
        high = b + m >= tens
        digits.append(q)
    return digits, exponent, low, high, (2 * b - tens) if high and low else 0


def _rounded_up(digits: list[int], exponent: int) -> tuple[str, int]:
    """The digits plus one in the last place; a carry out of all nines becomes 1 followed by the same
    number of zeros, one place higher (FloatingDecimal.roundup keeps the digit count)."""
    index = len(digits) - 1
    while digits[index] == 9 and index > 0:
        digits[index] = 0
        index -= 1
    if digits[index] == 9:
        digits[0] = 1
        exponent += 1
    else:
        digits[index] += 1
    return "".join(map(str, digits)), exponent


def _estimated_decimal_exponent(significand: int, binary_exponent: int) -> int:
    """floor(log10(value)), estimated in double arithmetic as Java does (may be one too high)."""
    mantissa = significand / _HIDDEN_BIT  # 1.fraction, exactly: the leading bit sits at the hidden bit's place
    estimate = (mantissa - 1.5) * 0.289529654 + 0.176091259 + float(binary_exponent) * 0.301029995663981
    return math.floor(estimate)


def _layout(digits: str, exponent: int) -> str:
    """The digits of 0.d1d2... * 10^exponent as Java writes them (FloatingDecimal.getChars)."""
    if 0 < exponent < 8:
        if len(digits) <= exponent:
            return digits + "0" * (exponent - len(digits)) + ".0"
        return digits[:exponent] + "." + digits[exponent:]
    if -3 < exponent <= 0:
        return "0." + "0" * -exponent + digits
    return f"{digits[0]}.{digits[1:] or '0'}E{exponent - 1}"


def _wrap(value: int, width: int) -> int:
    """`value` as Java's int (width 32) or long (width 64) holds it: two's complement, overflow wrapped."""
    value &= (1 << width) - 1
    return value - (1 << width) if value >> (width - 1) else value
