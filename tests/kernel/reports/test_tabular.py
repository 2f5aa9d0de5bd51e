"""Tests for governance.kernel.reports.tabular: CSV/JSONL streaming and CSV injection."""

from __future__ import annotations

import csv
import datetime as dt
import enum
import io
import json
import tracemalloc
import uuid
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.kernel.reports.tabular import (
    DANGEROUS_PREFIXES,
    ExportStopped,
    chain_head_line,
    iter_csv,
    iter_jsonl,
    neutralise,
)


class Status(enum.Enum):
    ACTIVE = "active"
    FORMULA = "=1+1"


def read_csv(chunks: Iterable[bytes]) -> list[list[str]]:
    text = b"".join(chunks).decode("utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


# --- neutralisation -------------------------------------------------------


@pytest.mark.parametrize("prefix", sorted(DANGEROUS_PREFIXES))
def test_each_dangerous_prefix_is_neutralised(prefix: str) -> None:
    rows = read_csv(iter_csv([(f"{prefix}cmd|' /C calc'!A0",)], header=["x"]))
    assert rows[1] == [f"'{prefix}cmd|' /C calc'!A0"]


def test_numbers_stay_numbers_and_strings_do_not() -> None:
    rows = [(-5, -2.5, Decimal("-7.10"), "-5", "+44 20 7946 0000", "@user", True, None)]
    text = b"".join(iter_csv(rows)).decode()
    assert text == "-5,-2.5,-7.10,'-5,'+44 20 7946 0000,'@user,true,\r\n"


def test_non_string_values_are_formatted_then_neutralised() -> None:
    ident = uuid.UUID(int=1)
    row = {
        "when": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        "day": dt.date(2026, 1, 2),
        "status": Status.ACTIVE,
        "formula_enum": Status.FORMULA,
        "id": ident,
    }
    rows = read_csv(iter_csv([row]))
    assert rows[0] == ["when", "day", "status", "formula_enum", "id"]
    assert rows[1] == ["2026-01-02T03:04:05+00:00", "2026-01-02", "active", "'=1+1", str(ident)]


def test_header_cells_are_neutralised_too() -> None:
    assert read_csv(iter_csv([(1,)], header=["=HYPERLINK()"]))[0] == ["'=HYPERLINK()"]


@given(st.lists(st.text(), min_size=1, max_size=5))
@settings(max_examples=300, deadline=None)
def test_any_text_round_trips_to_itself_or_its_neutralised_form(cells: list[str]) -> None:
    back = read_csv(iter_csv([cells]))
    assert len(back) == 1
    for original, cell in zip(cells, back[0], strict=True):
        assert cell in (original, "'" + original)
        assert cell == neutralise(original)
        assert not (cell and cell[0] in DANGEROUS_PREFIXES)


@given(st.lists(st.one_of(st.integers(), st.floats(allow_nan=False)), min_size=1, max_size=5))
def test_numbers_round_trip_as_numbers(values: list[float]) -> None:
    back = read_csv(iter_csv([values]))
    assert [float(c) for c in back[0]] == [float(v) for v in values]


# --- shapes, preamble, trailer ---------------------------------------------


def test_dict_rows_take_header_from_first_row_and_fill_missing() -> None:
    rows: list[dict[str, Any]] = [{"a": 1, "b": "x"}, {"a": 2}, {"b": "y", "a": 3}]
    assert read_csv(iter_csv(rows)) == [["a", "b"], ["1", "x"], ["2", ""], ["3", "y"]]


def test_dict_row_with_unknown_key_raises() -> None:
    with pytest.raises(ValueError, match="not in header"):
        list(iter_csv([{"a": 1}, {"a": 2, "secret": 3}]))


def test_single_column_dict_rows() -> None:
    rows: list[dict[str, Any]] = [{"a": 1}, {"a": "-x"}]
    assert read_csv(iter_csv(rows)) == [["a"], ["1"], ["'-x"]]


def test_tuple_rows_must_match_header_width() -> None:
    with pytest.raises(ValueError, match="2 cells, header has 3"):
        list(iter_csv([(1, 2)], header=["a", "b", "c"]))


def test_tuple_rows_without_header_write_no_header() -> None:
    assert read_csv(iter_csv([(1, 2), (3, 4)])) == [["1", "2"], ["3", "4"]]


def test_empty_input_writes_header_only() -> None:
    assert read_csv(iter_csv([], header=["a"])) == [["a"]]
    assert list(iter_csv([])) == []


def test_preamble_and_trailer_format() -> None:
    head = chain_head_line(42, "0" * 64)
    out = b"".join(iter_csv([(1, "x")], header=["n", "s"], preamble=[head], trailer=True))
    assert out.decode().splitlines() == [
        f"# audit chain head: seq=42, sha256={'0' * 64}",
        "n,s",
        "1,x",
        "# end of export: rows=1",
    ]
    # A reader that skips "#" records sees exactly the header and the rows.
    records = [r for r in read_csv([out]) if not r[0].startswith("#")]
    assert records == [["n", "s"], ["1", "x"]]


def test_an_export_its_rows_stop_says_so_instead_of_ending() -> None:
    """Rows that stop (the reader's access ended mid-download) leave a file that says it
    stopped and why, every row given before it written, and no "end of export" line."""

    def rows() -> Iterator[tuple[int, str]]:
        for n in range(600):  # more than one of the writer's batches of 256
            yield n, "x"
        raise ExportStopped('Your grant "A" was revoked:\r\nbreach.')

    lines = b"".join(iter_csv(rows(), header=["n", "s"], trailer=True)).decode().splitlines()
    assert lines[1:601] == [f"{n},x" for n in range(600)]
    assert lines[601:] == [
        "# export stopped: Your grant 'A' was revoked:  breach. (rows written: 600)"
    ]


@pytest.mark.parametrize("bad", ['quote " here', "two\nlines", "cr\rhere"])
def test_preamble_rejects_line_breaks_and_quotes(bad: str) -> None:
    with pytest.raises(ValueError, match="preamble"):
        list(iter_csv([(1,)], preamble=[bad]))


@pytest.mark.parametrize(("seq", "digest"), [(-1, "0" * 64), (1, "0" * 63), (1, "G" * 64)])
def test_chain_head_line_validates(seq: int, digest: str) -> None:
    with pytest.raises(ValueError, match="chain head"):
        chain_head_line(seq, digest)


def test_bom_is_optional_and_first() -> None:
    out = b"".join(iter_csv([(1,)], header=["a"], bom=True))
    assert out.startswith("\ufeff".encode())


def test_output_is_chunked() -> None:
    rows = (("x" * 100, i) for i in range(5_000))
    chunks = list(iter_csv(rows, header=["s", "i"], chunk_size=16_384))
    assert len(chunks) > 10
    assert all(len(c) < 16_384 + 30_000 for c in chunks)  # threshold + one batch


# --- JSON Lines ------------------------------------------------------------


def test_jsonl_serialises_governance_types() -> None:
    ident = uuid.UUID(int=7)
    row = {
        "at": dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=dt.UTC),
        "on": dt.date(2026, 5, 6),
        "amount": Decimal("12.3400"),
        "id": ident,
        "status": Status.ACTIVE,
        "name": "Zoë – 東京",  # noqa: RUF001  (non-ASCII on purpose)
        "tags": {"b", "a"},
    }
    (line,) = b"".join(iter_jsonl([row])).decode("utf-8").splitlines()
    assert "Zoë – 東京" in line  # noqa: RUF001  (ensure_ascii=False)
    assert json.loads(line) == {
        "at": "2026-05-06T07:08:09+00:00",
        "on": "2026-05-06",
        "amount": "12.3400",
        "id": str(ident),
        "status": "active",
        "name": "Zoë – 東京",  # noqa: RUF001  (non-ASCII on purpose)
        "tags": ["a", "b"],
    }


def test_jsonl_rejects_nan_and_unknown_types() -> None:
    with pytest.raises(ValueError, match="JSON compliant"):
        list(iter_jsonl([{"x": float("nan")}]))
    with pytest.raises(TypeError, match="object"):
        list(iter_jsonl([{"x": object()}]))


def test_jsonl_one_object_per_line_even_with_newlines_in_text() -> None:
    rows = [{"i": i, "text": "a\nb\u2028c"} for i in range(1000)]
    lines = b"".join(iter_jsonl(rows, chunk_size=1024)).decode().split("\n")
    assert lines[-1] == ""
    assert [json.loads(x)["i"] for x in lines[:-1]] == list(range(1000))


def test_a_jsonl_export_its_rows_stop_ends_with_an_object_saying_so() -> None:
    """The attack on a reader of JSON Lines: the rows stop (the reader's access ended while it
    was sent) and the writer either lets the exception tear the stream (a truncated file any
    parser takes whole) or ends as if complete. Now the last line is an object saying it
    stopped, why, and how many rows came before, as the CSV's last line does; a complete
    export with `trailer` ends with an object saying so."""

    def rows() -> Iterator[dict[str, int]]:
        for n in range(600):
            yield {"n": n}
        raise ExportStopped('Your grant "A" was revoked.')

    lines = [json.loads(x) for x in b"".join(iter_jsonl(rows(), trailer=True)).splitlines()]
    assert lines[:600] == [{"n": n} for n in range(600)]
    assert lines[600:] == [{"export_stopped": 'Your grant "A" was revoked.', "rows_written": 600}]
    complete = b"".join(iter_jsonl(({"n": n} for n in range(3)), trailer=True)).splitlines()
    assert json.loads(complete[-1]) == {"end_of_export": True, "rows": 3}
    assert b"".join(iter_jsonl([{"n": 1}])).splitlines() == [b'{"n":1}']


# --- constant memory -------------------------------------------------------


def _many_rows(n: int) -> Iterator[tuple[Any, ...]]:
    # Prebuilt strings keep the generator's own allocations (which tracemalloc
    # would also count, and slow down) out of the measurement.
    names = [f"dataset-{i}" for i in range(97)]
    day = dt.date(2026, 1, 1)
    for i in range(n):
        yield (i, names[i % 97], "=cmd()" if i % 10 == 0 else "ok", -i, 0.5, day)


@pytest.mark.slow
def test_streaming_a_million_rows_keeps_memory_bounded() -> None:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        total = rows = 0
        for chunk in iter_csv(_many_rows(1_000_000), header=list("abcdef"), trailer=True):
            total += len(chunk)
            rows += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 1_000_002  # header + rows + trailer
    assert total > 40_000_000  # ~45 MB of CSV went through ...
    assert peak < 5 * 1024 * 1024  # ... with a peak far below 50 MB
