"""The upload checks on their own: every refusal names where the problem is; no crash on junk."""

from __future__ import annotations

import datetime as dt
import io

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.datasets.ingest import IngestionRefused, IngestLimits, parse_csv_frame
from governance.datasets.ingest.typed_source import parquet_batches
from tests.datasets.support import COLUMNS, GOOD_CSV, HEADER, good_parquet, parquet_bytes


def refusal(data: bytes, limits: IngestLimits | None = None) -> IngestionRefused:
    with pytest.raises(IngestionRefused) as caught:
        parse_csv_frame(data, COLUMNS, limits)
    return caught.value


def test_a_good_file_is_typed_as_declared() -> None:
    frame = parse_csv_frame(GOOD_CSV, COLUMNS)
    assert list(frame.columns) == [c.name for c in COLUMNS]
    assert frame["age"].tolist() == [34, 19, 51]
    assert frame["arrest_date"].tolist()[0] == dt.date(2021, 3, 4)
    assert frame["released"].tolist()[:1] == [True]
    assert frame["released"].isna().tolist() == [False, True, False]
    assert str(frame["offence"].dtype) == "category"
    # Formula-like cells are data, stored exactly as given.
    assert frame["offence"].tolist()[2] == '=HYPERLINK("x")'


def test_a_utf8_byte_order_mark_is_accepted_and_dropped() -> None:
    frame = parse_csv_frame(b"\xef\xbb\xbf" + GOOD_CSV, COLUMNS)
    assert frame.columns[0] == "person_id"
    assert len(frame) == 3


def test_columns_may_come_in_any_order_and_optional_ones_may_be_left_out() -> None:
    frame = parse_csv_frame(b"age,person_id,offence,arrest_date\n4,P9,theft,2020-02-29\n", COLUMNS)
    assert frame.loc[0, "person_id"] == "P9"
    assert frame["bail"].isna().all()


def test_a_quoted_line_break_stays_one_row_for_numbering() -> None:
    data = HEADER + b'"P1\nsecond line",34,2021-03-04,theft,,\nP2,abc,2021-03-04,theft,,\n'
    assert refusal(data).fields == {"row 3, column age": "expected integer, got 'abc'"}


@pytest.mark.parametrize(
    ("data", "where", "says"),
    [
        (
            HEADER + b"P1,abc,2021-03-04,theft,,\n",
            "row 2, column age",
            "expected integer, got 'abc'",
        ),
        (HEADER + b"P1,3,2021-02-30,theft,,\n", "row 2, column arrest_date", "2021-02-30"),
        (HEADER + b"P1,3,04/03/2021,theft,,\n", "row 2, column arrest_date", "YYYY-MM-DD"),
        (HEADER + b"P1,3,2021-03-04,theft,maybe,\n", "row 2, column released", "true/false"),
        (HEADER + b"P1,3,2021-03-04,theft,,1e999\n", "row 2, column bail", "expected a number"),
        (HEADER + b",3,2021-03-04,theft,,\n", "row 2, column person_id", "required"),
        (
            HEADER + b"P1,99999999999999999999,2021-03-04,theft,,\n",
            "row 2, column age",
            "expected integer",
        ),
        (HEADER + b"P1,3,2021-03-04\n", "row 2", "has 3 cells; the header has 6"),
        (
            b"person_id,age,age,arrest_date,offence\n",
            "row 1 (header), column age",
            "appears more than once",
        ),
        (
            b"person_id,age,arrest_date,offence,shoe_size\n",
            "row 1 (header), column shoe_size",
            "not a column of this dataset",
        ),
        (b"person_id,age,offence\n", "column arrest_date", "required but missing"),
        (b"person_id,age,arrest_date,offence\nP1\x00,3,2021-03-04,x\n", "file", "NUL byte"),
        (
            b"person_id,age,arrest_date,offence\nJos\xe9,3,2021-03-04,x\n",
            "file",
            "byte 37 (line 2) is not valid UTF-8",
        ),
        (b"\xff\xfep\x00e\x00", "file", "NUL byte"),
        (HEADER, "file", "no data rows"),
        (b"", "file", "empty"),
        (HEADER + b'"P1,3,2021-03-04,theft,,\n', "row 2", "never closed"),
    ],
)
def test_each_problem_names_its_row_and_column(data: bytes, where: str, says: str) -> None:
    problem = refusal(data).fields
    assert where in problem, problem
    assert says in problem[where]


def test_the_first_problems_are_listed_in_file_order_and_all_are_counted() -> None:
    body = b"".join(b"P%d,x%d,2021-03-04,theft,,\n" % (i, i) for i in range(50))
    refused = refusal(HEADER + body)
    assert refused.total == 50
    assert [p.location for p in refused.problems][:3] == [
        "row 2, column age",
        "row 3, column age",
        "row 4, column age",
    ]
    assert len(refused.problems) == 20
    assert "The first 20 of 50 problems are listed" in refused.message


def test_a_huge_field_is_refused_by_size() -> None:
    data = HEADER + b"P1,3,2021-03-04," + b"x" * 110_000 + b",,\n"
    assert "at most 100 KB" in refusal(data).fields["row 2, column offence"]
    giant = HEADER + b"P1,3,2021-03-04," + b"y" * 300_000 + b",,\n"
    assert "larger than 100 KB" in refusal(giant).fields["row 2"]


def test_a_million_columns_are_refused_from_the_first_megabyte() -> None:
    header = b",".join(b"c%d" % i for i in range(1_000_000)) + b"\n"
    assert "more than 2,000 columns" in refusal(header + b"1\n").fields["row 1"]


def test_a_file_over_the_size_limit_is_refused_while_streaming() -> None:
    limits = IngestLimits(max_bytes=10_000)
    body = b"P1,3,2021-03-04,theft,,\n" * 1000
    assert "larger than the" in refusal(HEADER + body, limits).fields["file"]


def test_parquet_is_checked_like_csv() -> None:
    limits = IngestLimits()
    batches = list(parquet_batches(io.BytesIO(good_parquet()), COLUMNS, limits))
    assert sum(b.num_rows for b in batches) == 2
    wrong = parquet_bytes(
        pa.table(
            {"person_id": ["P1"], "age": [3.5], "arrest_date": ["2021-01-01"], "offence": ["x"]}
        )
    )
    with pytest.raises(IngestionRefused) as caught:
        list(parquet_batches(io.BytesIO(wrong), COLUMNS, limits))
    assert (
        "expected integer, but the file's column holds double" in caught.value.fields["column age"]
    )
    with pytest.raises(IngestionRefused) as caught:
        list(parquet_batches(io.BytesIO(b"PAR1 not really parquet PAR1"), COLUMNS, limits))
    assert "not a Parquet file this service can read" in caught.value.fields["file"]


JUNK = st.one_of(
    st.binary(max_size=400),
    st.lists(
        st.sampled_from(
            [
                b"person_id",
                b"age",
                b"2021-03-04",
                b",",
                b"\n",
                b'"',
                b"\r",
                b"\xef\xbb\xbf",
                b"\x00",
                b"\xe9",
                b"abc",
                b"12",
                b"",
            ]
        ),
        max_size=60,
    ).map(b"".join),
    st.binary(max_size=200).map(lambda tail: HEADER + tail),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JUNK)
def test_the_csv_checker_never_crashes_on_arbitrary_bytes(data: bytes) -> None:
    refused: IngestionRefused | None = None
    try:
        frame = parse_csv_frame(data, COLUMNS)
    except IngestionRefused as error:
        refused = error
    if refused is None:
        assert list(frame.columns) == [c.name for c in COLUMNS]
    else:
        assert refused.status == 422
        assert refused.problems
