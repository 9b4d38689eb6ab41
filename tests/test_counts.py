from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socialmetrics.counts import ParsedCount, parse_count

SEPARATORS = [",", " ", "\u00a0", "\u2009", "\u202f", "'"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,234", ParsedCount(1234, rounded=False)),
        ("999", ParsedCount(999, rounded=False)),
        ("0", ParsedCount(0, rounded=False)),
        (1234, ParsedCount(1234, rounded=False)),
        ("12 345", ParsedCount(12345, rounded=False)),
        ("12\u00a0345", ParsedCount(12345, rounded=False)),
        ("12\u202f345", ParsedCount(12345, rounded=False)),
        ("1\u2009234\u2009567", ParsedCount(1234567, rounded=False)),
        ("1,234,567", ParsedCount(1234567, rounded=False)),
        ("  42\n", ParsedCount(42, rounded=False)),
        ("1.2K", ParsedCount(1200, rounded=True)),
        ("15.5k", ParsedCount(15500, rounded=True)),
        ("630k", ParsedCount(630000, rounded=True)),
        ("3M", ParsedCount(3_000_000, rounded=True)),
        ("2.2M", ParsedCount(2_200_000, rounded=True)),
        ("1.1B", ParsedCount(1_100_000_000, rounded=True)),
        ("1.25 M", ParsedCount(1_250_000, rounded=True)),
        ("1,234.5K", ParsedCount(1_234_500, rounded=True)),
        ("4.5 million", ParsedCount(4_500_000, rounded=True)),
        ("2bn", ParsedCount(2_000_000_000, rounded=True)),
    ],
)
def test_parses_counts(text, expected):
    assert parse_count(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (None, "empty"),
        ("", "empty"),
        ("   ", "empty"),
        ("-5", "negative"),
        ("\u22125", "negative"),
        (-5, "negative"),
        ("abc", "not a count"),
        ("1.5", "no K, M or B suffix"),
        ("1.234", "no K, M or B suffix"),
        ("1,2K", "not a count"),  # decimal comma: ambiguous, never read as 12K
        ("12,34", "not a count"),
        ("1,234 567", "not a count"),  # mixed separators
        ("5X", "unknown suffix"),
        ("1.2345K", "more decimals"),
        ("1e6", "not a count"),
        ("1.2K followers", "not a count"),
        (True, "bool"),
        (1.5, "float"),
    ],
)
def test_rejects_what_is_not_a_count(text, words):
    with pytest.raises(ValueError, match=words):
        parse_count(text)


def test_known_historical_bugs():
    assert parse_count("15.5k").value == 15500  # was read as 155
    assert parse_count("630k").value == 630000  # was read as 63,000
    assert parse_count("2.2M").value == 2_200_000  # crashed a parser
    assert parse_count("1,000").value == 1000  # values over 999 were read as 0


@given(st.integers(min_value=0, max_value=10**15), st.sampled_from(SEPARATORS))
def test_round_trip_of_formatted_integers(number, separator):
    text = f"{number:,}".replace(",", separator)
    assert parse_count(text) == ParsedCount(number, rounded=False)
    assert parse_count(str(number)) == ParsedCount(number, rounded=False)


@given(
    st.integers(min_value=1000, max_value=10**12),
    st.sampled_from([("K", 3), ("M", 6), ("B", 9)]),
    st.integers(min_value=0, max_value=2),
    st.booleans(),
)
def test_suffixed_values_are_within_rounding_error(number, suffix_and_exponent, decimals, lower):
    suffix, exponent = suffix_and_exponent
    scale = Decimal(10) ** exponent
    text = f"{Decimal(number) / scale:.{decimals}f}{suffix.lower() if lower else suffix}"
    parsed = parse_count(text)
    assert parsed.rounded is True
    # Shown to `decimals` places of the unit, the value is off by at most half of the last place.
    assert abs(parsed.value - number) <= scale / 10**decimals / 2
    if number > 999 and number >= scale:
        assert parsed.value > 0


@given(st.integers(min_value=1000, max_value=10**12))
def test_values_over_999_are_never_zero(number):
    assert parse_count(f"{number:,}").value == number
    assert parse_count(f"{number / 1000:.1f}K").value > 0


@given(st.text(alphabet="0123456789.,kKmMbB -", max_size=12))
def test_never_crashes_on_garbage(text):
    try:
        parsed = parse_count(text)
    except ValueError:
        return
    assert parsed.value >= 0
