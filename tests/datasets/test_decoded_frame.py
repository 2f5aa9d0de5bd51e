"""`decoded_frame`: a stored table as pandas, each column as `decoded` gives it, in the table's
order. Integer columns with a gap become pandas' nullable integers with every digit; the rest
is exactly `to_pandas()`."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.datasets.datastore.store import decoded, decoded_frame

_KINDS = {
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "int32": (pa.int32(), st.integers(-(2**31), 2**31 - 1)),
    "uint16": (pa.uint16(), st.integers(0, 2**16 - 1)),
    "text": (pa.string(), st.text(max_size=5)),
    "float": (pa.float64(), st.floats(allow_nan=False)),
}


@st.composite
def tables(draw: st.DrawFn) -> pa.Table:
    rows = draw(st.integers(0, 8))
    columns = {}
    for position in range(draw(st.integers(1, 5))):
        kind, values = _KINDS[draw(st.sampled_from(sorted(_KINDS)))]
        cells = draw(st.lists(st.none() | values, min_size=rows, max_size=rows))
        columns[f"c{position}"] = pa.array(cells, type=kind)
    return pa.table(columns)


@settings(max_examples=200, deadline=None)
@given(tables())
def test_each_column_as_decoded_in_the_tables_order(table: pa.Table) -> None:
    frame = decoded_frame(table)
    assert list(frame.columns) == table.column_names
    assert len(frame) == table.num_rows
    for name in table.column_names:
        pd.testing.assert_series_equal(
            frame[name], decoded(table.column(name)).rename(name), check_index_type=True
        )


def test_integers_with_a_gap_keep_every_digit_beside_plain_columns() -> None:
    table = pa.table(
        {
            "plain": pa.array([1, 2, 3]),
            "gappy": pa.array([2**53 + 1, None, 5]),
            "text": ["a", "b", None],
        }
    )
    frame = decoded_frame(table)
    assert [str(t) for t in frame.dtypes] == [
        "int64",
        "Int64",
        str(table.to_pandas()["text"].dtype),
    ]
    assert frame["gappy"].tolist() == [2**53 + 1, pd.NA, 5]
    pd.testing.assert_frame_equal(frame[["plain", "text"]], table.to_pandas()[["plain", "text"]])
