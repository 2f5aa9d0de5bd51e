"""One canonical content function (RFC 8785): writer and verifier hash exactly the same text,
only the canonical text of a detail passes, and the fast CSV lines are byte for byte what the
reports toolkit writes."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import pyarrow.csv as pacsv
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.audit import export
from governance.audit.export import iter_csv_batches, iter_csv_rows
from governance.audit.format import (
    MAX_SAFE_INTEGER,
    canonical_detail,
    is_jcs_object,
    storable_text,
)
from governance.audit.queries import EXPORT_COLUMNS
from governance.audit.service import canonical_content, content_text, format_time
from governance.kernel.reports.tabular import ExportStopped, iter_csv

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
maybe_text = st.none() | texts
maybe_int = st.none() | st.integers(min_value=-(2**40), max_value=2**40)
safe_ints = st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | safe_ints
    | texts
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
moments = st.datetimes(
    min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)
DANGEROUS = st.sampled_from(
    [
        "=1+2",
        "+SUM(A1)",
        "-2+3",
        "@cmd",
        "\tx",
        "\rx",
        "\nx",
        '=HYPERLINK("http://x","y")',
        "plain",
        "a,b",
        'say "hi"',
        "",
    ]
)


@given(
    email=maybe_text,
    actor=maybe_int,
    agreement=maybe_int,
    version=maybe_int,
    clause=maybe_text,
    dataset=maybe_int,
    detail=st.dictionaries(texts, json_values, max_size=4),
    kind=texts,
    moment=moments,
    outcome=texts,
    rule=maybe_text,
    seq=st.integers(min_value=1, max_value=2**50),
    target_id=maybe_text,
    target_type=maybe_text,
)
def test_content_text_is_the_rfc8785_json_of_the_event(
    email: str | None,
    actor: int | None,
    agreement: int | None,
    version: int | None,
    clause: str | None,
    dataset: int | None,
    detail: dict[str, Any],
    kind: str,
    moment: dt.datetime,
    outcome: str,
    rule: str | None,
    seq: int,
    target_id: str | None,
    target_type: str | None,
) -> None:
    """What the hash covers is RFC 8785 (JCS) canonical JSON, as an independent verifier with
    any JCS library reproduces it; the verifier's fast check agrees with the reference."""
    event = {
        "seq": seq,
        "occurred_at": moment,
        "event_type": kind,
        "outcome": outcome,
        "actor_id": actor,
        "actor_email": email,
        "agreement_id": agreement,
        "agreement_version": version,
        "dataset_id": dataset,
        "target_type": target_type,
        "target_id": target_id,
        "rule": rule,
        "clause": clause,
        "detail": detail,
    }
    expected = rfc8785.dumps({**event, "occurred_at": format_time(moment)}).decode()
    assert canonical_content(event) == expected
    stored = canonical_detail(detail)
    assert stored == rfc8785.dumps(detail).decode()
    assert is_jcs_object(stored)
    # The verifier passes the stored detail text straight through.
    assert (
        content_text(
            email,
            actor,
            agreement,
            version,
            clause,
            dataset,
            stored,
            kind,
            format_time(moment),
            outcome,
            rule,
            seq,
            target_id,
            target_type,
        )
        == expected
    )


@given(st.dictionaries(texts, json_values, max_size=4))
def test_only_the_canonical_text_of_a_detail_passes(detail: dict[str, Any]) -> None:
    """Whatever else a JSON library might write for the same value is refused."""
    canonical = canonical_detail(detail)
    variants = {
        json.dumps(detail),
        json.dumps(detail, sort_keys=True),
        json.dumps(detail, ensure_ascii=False, separators=(",", ":")),
        json.dumps(detail, sort_keys=True, separators=(",", ":")),
    } - {canonical}
    for variant in variants:
        assert not is_jcs_object(variant), variant


@pytest.mark.parametrize(
    ("stored", "canonical"),
    [
        ('{"a":1}', True),
        ('{"a": 1}', False),  # a space
        ('{"b":1,"a":2}', False),  # unsorted
        ('{"a":1,"a":2}', False),  # a duplicate key: parsers keep the first or the last
        ('{"a":"\\\\u0041"}', True),  # a backslash, then u0041
        ('{"a":"\\u0041"}', False),  # an escape JCS does not write
        ('{"a":1.0}', False),  # JCS writes 1
        ('{"a":1e-7}', True),
        ('{"a":1E-7}', False),
        ('{"a":9007199254740991}', True),
        ('{"a":9007199254740992}', True),  # 2**53, a double
        ('{"a":9007199254740993}', False),  # no double has this value
        ('{"a":NaN}', False),
        ('{"a":"\\ud800"}', False),  # a lone surrogate
        ('{"\\ue000":1,"\\ud83d\\ude00":2}', False),  # escapes, not characters
        ('{"😀":2,"":1}', True),  # JCS orders keys by UTF-16 code units
        ('{"":1,"😀":2}', False),  # ... not by code points
        ("[1]", False),
        ('"text"', False),
        ("{}", True),
        ("{} ", False),
        ("", False),
        ("[" * 100_000, False),
    ],
)
def test_detail_canonical_form(stored: str, canonical: bool) -> None:
    assert is_jcs_object(stored) is canonical


def test_values_json_cannot_carry_are_escaped_deterministically() -> None:
    """A record never fails for the text it records (a lone surrogate made every action that
    recorded one fail): lone surrogates become U+FFFD, numbers beyond 2**53 their digits."""
    detail = {
        "name": "bad\ud800text",
        "\udfff": 1,
        "big": 2**60,
        "nan": float("nan"),
        "pair": "\ud83d\ude00",
        7: "key",
        "float": 0.1,
    }
    text = canonical_detail(detail)
    assert is_jcs_object(text)
    assert json.loads(text) == {
        "name": "bad\ufffdtext",
        "\ufffd": 1,
        "big": str(2**60),
        "nan": "NaN",
        "pair": "\U0001f600",
        "7": "key",
        "float": 0.1,
    }
    assert storable_text("plain") == "plain"


def test_a_whole_number_stored_as_text_never_hashes_like_the_number() -> None:
    row = [
        "a@b",
        5,
        None,
        None,
        None,
        None,
        "{}",
        "auth:login",
        "2026-01-01T00:00:00.000000Z",
        "success",
        None,
        1,
        None,
        None,
    ]
    content_text(*row)
    for position in (1, 11):
        forged = list(row)
        forged[position] = "5"
        with pytest.raises(TypeError):
            content_text(*forged)
    forged = list(row)
    forged[1] = 5.0
    with pytest.raises(TypeError):
        content_text(*forged)


# No deadline: the first example pays pyarrow's first conversion and RE2 compile (hundreds of
# ms on a busy machine), which hypothesis would take for a flaky test.
@settings(deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=1),
            DANGEROUS | texts,
            DANGEROUS,
            DANGEROUS,
            maybe_int,
            DANGEROUS | maybe_text,
            maybe_int,
            maybe_int,
            maybe_int,
            DANGEROUS | maybe_text,
            DANGEROUS | maybe_text,
            DANGEROUS | maybe_text,
            DANGEROUS | maybe_text,
            DANGEROUS,
            DANGEROUS,
            DANGEROUS,
        ),
        max_size=5,
    )
)
def test_csv_lines_match_the_reports_toolkit(rows: list[tuple[Any, ...]]) -> None:
    # pyarrow's writer quotes every text cell, the toolkit only those that need it: read
    # back, the cells are the same, neutralised the same way, with the same trailer.
    ours = b"".join(iter_csv_rows(rows)).decode()
    toolkit = b"".join(iter_csv(rows, header=EXPORT_COLUMNS, trailer=True)).decode()
    assert list(csv.reader(io.StringIO(ours, newline=""))) == list(
        csv.reader(io.StringIO(toolkit, newline=""))
    )
    assert ours.endswith(f"\r\n# end of export: rows={len(rows)}\r\n")


def test_the_audit_csv_writer_ends_a_stopped_export_as_the_toolkit_does() -> None:
    """Events that stop coming (`ExportStopped`) end the audit's own CSV with the toolkit's
    "export stopped" line, not the "end of export" one a complete file ends with."""
    row = (1, "2026-01-01T00:00:00.000000Z", "auth:login", "success", *([None] * 10), "", "")

    def batches() -> Iterator[list[tuple[Any, ...]]]:
        yield [row, row]
        raise ExportStopped("Your role was removed.")

    def rows() -> Iterator[tuple[Any, ...]]:
        for batch in batches():
            yield from batch

    ours = b"".join(iter_csv_batches(batches())).decode()
    toolkit = b"".join(iter_csv(rows(), header=EXPORT_COLUMNS)).decode()
    assert ours.endswith("\r\n# export stopped: Your role was removed. (rows written: 2)\r\n")
    assert toolkit.splitlines()[-1] == ours.splitlines()[-1]
    assert "end of export" not in ours


def test_csv_neutralises_formula_cells() -> None:
    row = (
        1,
        "2026-01-01T00:00:00.000000Z",
        "auth:login_failed",
        "failure",
        None,
        "=cmd|' /C calc'!A0",
        None,
        None,
        None,
        "user",
        "+1",
        "-x",
        "@y",
        '{"a":"=1"}',
        "\tz",
        "0" * 64,
    )
    line = b"".join(iter_csv_rows([row])).decode()
    assert '\r\n1,"2026-01-01T00:00:00.000000Z","auth:login_failed","failure",,' in line
    assert ",\"'=cmd|' /C calc'!A0\"," in line
    assert ',"\'+1","\'-x","\'@y",' in line
    assert '"\'\tz"' in line


HOSTILE_TEXT = (
    DANGEROUS | texts | st.sampled_from(["é ñ 中文 🙂", "a\r\nb", '"', '""', ",", "'=x", "x="])
)
WHOLE = ("seq", "actor_id", "agreement_id", "agreement_version", "dataset_id")


def reference_csv(batches: list[list[tuple[Any, ...]]]) -> bytes:
    """The export written cell by cell, independently of pyarrow: integers bare, text always
    quoted with quotes doubled, a formula-like first character neutralised with `'`, an
    absent value empty, CRLF after every line."""
    lines = [",".join(EXPORT_COLUMNS)]
    for row in (row for batch in batches for row in batch):
        cells = []
        for name, value in zip(EXPORT_COLUMNS, row, strict=True):
            if value is None:
                cells.append("")
            elif name in WHOLE:
                cells.append(str(value))
            else:
                text = "'" + value if value and value[0] in "=+-@\t\r\n" else value
                cells.append('"' + text.replace('"', '""') + '"')
        lines.append(",".join(cells))
    lines.append(f"# end of export: rows={sum(len(batch) for batch in batches)}")
    return ("\r\n".join(lines) + "\r\n").encode()


# No deadline: the first example pays pyarrow's first conversion and RE2 compile (hundreds of
# ms on a busy machine), which hypothesis would take for a flaky test.
@settings(deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.integers(min_value=1, max_value=2**62),
                HOSTILE_TEXT,
                HOSTILE_TEXT,
                HOSTILE_TEXT,
                maybe_int,
                st.none() | HOSTILE_TEXT,
                maybe_int,
                maybe_int,
                maybe_int,
                st.none() | HOSTILE_TEXT,
                st.none() | HOSTILE_TEXT,
                st.none() | HOSTILE_TEXT,
                st.none() | HOSTILE_TEXT,
                HOSTILE_TEXT,
                HOSTILE_TEXT,
                HOSTILE_TEXT,
            ),
            min_size=1,
            max_size=4,
        ),
        max_size=4,
    )
)
def test_csv_bytes_are_an_independent_cell_by_cell_rendering(
    batches: list[list[tuple[Any, ...]]],
) -> None:
    assert b"".join(iter_csv_batches(batches)) == reference_csv(batches)
    rows = [row for batch in batches for row in batch]
    assert b"".join(iter_csv_rows(rows)) == reference_csv([rows] if rows else [])


odd_values = st.none() | st.integers() | texts | st.floats(allow_nan=False) | st.booleans()


# No deadline: the first example pays pyarrow's first conversion and RE2 compile (hundreds of
# ms on a busy machine), which hypothesis would take for a flaky test.
@settings(deadline=None)
@given(st.lists(st.tuples(*[odd_values] * len(EXPORT_COLUMNS)), min_size=1, max_size=4))
def test_a_value_of_another_type_is_written_as_before(rows: list[tuple[Any, ...]]) -> None:
    # SQLite stores what it is given: a batch holding text in an integer column (or a number
    # in a text column) is written column by column, as every batch was before, byte for byte.
    def written(batch: Any) -> bytes:
        sink = io.BytesIO()
        pacsv.write_csv(batch, sink, export._CSV_OPTIONS)
        return sink.getvalue()

    try:
        expected = written(export._batch_by_column(rows))
    except (ValueError, TypeError, OverflowError) as error:
        with pytest.raises(type(error)):
            export._batch(rows)
        return
    assert written(export._batch(rows)) == expected
