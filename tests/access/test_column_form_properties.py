"""The forms a column can be granted in, on any data hypothesis makes: coarsening never makes a
combination more identifying (the unique share never rises, k never falls, the classes never
multiply), it is a function of the value (equal values stay equal, so a coarsened column
cannot be undone by comparing rows), and a pseudonym is one-to-one, keyed and keeps missing
values missing. These are the functions the data door applies at every read."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.access.column_forms import for_figures, parse_forms, pseudonymised
from governance.access.models import ColumnForm
from governance.analysis.engine import reidentification as risk
from governance.kernel.errors import ValidationFailed

ages = st.one_of(st.none(), st.integers(0, 110))
dates = st.one_of(st.none(), st.dates(dt.date(1930, 1, 1), dt.date(2030, 12, 31)))
areas = st.sampled_from(["AB1", "AB2", "AC1", "CD1", "CD2", "CE9", None])


@st.composite
def columns(draw: st.DrawFn) -> tuple[pd.Series, str]:
    """One column in one of the shapes the service stores: numbers, numbers as text, dates
    as text or as dates, codes of one length."""
    n = draw(st.integers(1, 80))
    kind = draw(st.sampled_from(["int", "int-text", "date", "date-text", "code"]))
    if kind in {"int", "int-text"}:
        values = draw(st.lists(ages, min_size=n, max_size=n))
        series = pd.Series(values, dtype="Float64")
        if kind == "int-text":
            series = pd.Series([None if v is None else str(v) for v in values], dtype="string")
    elif kind in {"date", "date-text"}:
        values = draw(st.lists(dates, min_size=n, max_size=n))
        series = pd.to_datetime(pd.Series(values, dtype="object"))
        if kind == "date-text":
            series = pd.Series(
                [None if v is None else v.isoformat() for v in values], dtype="string"
            )
    else:
        series = pd.Series(draw(st.lists(areas, min_size=n, max_size=n)), dtype="string")
    return series, kind


@settings(max_examples=200, deadline=None)
@given(data=columns(), sex=st.data())
def test_coarsening_never_makes_a_combination_more_identifying(
    data: tuple[pd.Series, str], sex: st.DataObject
) -> None:
    series, _ = data
    other = sex.draw(
        st.lists(st.sampled_from(["F", "M"]), min_size=len(series), max_size=len(series))
    )
    frame = pd.DataFrame({"q": series, "sex": other})
    coarse = risk.coarsened(series)
    if coarse is None:
        return  # no coarser form: the door refuses the read instead (see the access tests)
    fine = risk.figures(frame, ["q", "sex"], threshold=3)
    coarsened = risk.figures(frame.assign(q=coarse), ["q", "sex"], threshold=3)
    assert coarsened.unique_share <= fine.unique_share
    assert coarsened.k_anonymity >= fine.k_anonymity
    assert coarsened.classes <= fine.classes
    assert coarsened.small_class_records <= fine.small_class_records
    # The figures the grant is decided on are those of what the door serves.
    served = for_figures(frame, {"q": ColumnForm.COARSENED})
    assert risk.figures(served, ["q", "sex"], threshold=3) == coarsened


@settings(max_examples=200, deadline=None)
@given(data=columns())
def test_coarsening_is_a_function_of_the_value(data: tuple[pd.Series, str]) -> None:
    series, _ = data
    coarse = risk.coarsened(series)
    if coarse is None:
        return
    assert len(coarse) == len(series)
    seen: dict[object, object] = {}
    for value, label in zip(series.tolist(), coarse.tolist(), strict=True):
        key = "<missing>" if pd.isna(value) else value
        assert seen.setdefault(key, label) is label or seen[key] == label
        if pd.isna(value):
            assert pd.isna(label)  # missing stays missing
        else:
            assert not pd.isna(label)
            assert label != str(value) or series.nunique() <= 1  # a coarser label, not the value


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=60),
    key=st.binary(min_size=32, max_size=32),
    other=st.binary(min_size=32, max_size=32),
)
def test_a_pseudonym_is_one_to_one_keyed_and_keeps_missing(
    values: list[str | None], key: bytes, other: bytes
) -> None:
    series = pd.Series(values, dtype="string")
    made = pseudonymised(series, key)
    assert made.isna().tolist() == series.isna().tolist()
    pairs = {(v, p) for v, p in zip(series.dropna(), made.dropna(), strict=True)}
    assert len({v for v, _ in pairs}) == len(pairs) == len({p for _, p in pairs})
    assert not set(made.dropna()) & set(series.dropna())
    if key != other and len(series.dropna()):
        assert pseudonymised(series, other).dropna().tolist() != made.dropna().tolist()
    # One-to-one: the figures of a pseudonymised quasi-identifier are those of the column.
    frame = pd.DataFrame({"q": series})
    assert risk.figures(frame.assign(q=made), ["q"], threshold=2) == risk.figures(
        frame, ["q"], threshold=2
    )


@settings(max_examples=100, deadline=None)
@given(raw=st.dictionaries(st.text(max_size=8), st.text(max_size=14), max_size=4))
def test_forms_parse_or_are_refused_clearly(raw: dict[str, str]) -> None:
    allowed = {"age", "area"}
    acceptable = all(
        (not form or form == "as stored")
        or (column in allowed and form in {f.value for f in ColumnForm})
        for column, form in raw.items()
    )
    if not acceptable:
        with pytest.raises(ValidationFailed):
            parse_forms(raw, allowed=allowed)
        return
    forms = parse_forms(raw, allowed=allowed)
    assert set(forms) <= allowed
    assert all(isinstance(f, ColumnForm) for f in forms.values())
