"""The decision's tokens written cheaper (identifiers.time_token without strftime, `safe`
kept per name) are the same text as before, for any time and any name."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from governance.authz import identifiers as ids

_ZONES = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)


@given(
    st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.one_of(st.just(dt.UTC), _ZONES),
    )
)
def test_time_token_is_strftimes_text(moment: dt.datetime) -> None:
    expected = moment.astimezone(dt.UTC).strftime(ids.ANY_TIME_FORMAT)
    assert ids.time_token(moment) == expected


def test_time_tokens_order_as_times_across_the_padded_years() -> None:
    # Casbin compares the tokens as text: they must be fixed width where times are compared.
    moments = [dt.datetime(year, 1, 1, tzinfo=dt.UTC) for year in (1000, 1999, 2026, 9999)]
    tokens = [ids.time_token(moment) for moment in moments]
    assert tokens == sorted(tokens)
    assert {len(token) for token in tokens} == {27}


@given(st.text())
def test_safe_is_quote_and_the_kept_answer_stays_the_same(name: str) -> None:
    assert ids.safe(name) == quote(name, safe="") == ids.safe(name)


def test_safe_keeps_a_bounded_number_of_names() -> None:
    for i in range(10_000):
        ids.safe(f"column {i}")
    info = ids.safe.cache_info()
    assert info.maxsize is not None
    assert info.currsize <= info.maxsize
