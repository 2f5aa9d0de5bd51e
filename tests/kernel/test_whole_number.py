"""`whole_number`: what a typed id or count may be before it reaches the database."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from governance.kernel.text import whole_number
from governance.kernel.types import MAX_ID


@given(st.text(max_size=30))
def test_any_text_is_a_number_within_bounds_or_none_and_never_an_error(text: str) -> None:
    number = whole_number(text)
    if number is not None:
        assert 0 <= number <= MAX_ID
        assert number == int(text)
        assert text.isascii()


@given(st.integers(min_value=0, max_value=10**30))
def test_a_number_is_read_back_exactly_up_to_the_bound(value: int) -> None:
    assert whole_number(str(value)) == (value if value <= MAX_ID else None)
    assert whole_number(str(value), maximum=10**18) == (value if value <= 10**18 else None)


def test_digits_that_int_refuses_and_signs_are_not_numbers() -> None:
    # "²" and "①" are digits to str.isdigit; int() refuses them. "٣" is a digit int() reads,
    # but an id is typed in ASCII digits.
    for text in ("²", "1²", "①", "٣", "-1", "+1", " 1", "1 ", "1.0", "", "0x10"):
        assert whole_number(text) is None, text
    assert whole_number("0") == 0
    assert whole_number("007") == 7
