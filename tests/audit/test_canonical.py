"""One canonical content function: writer and verifier hash exactly the same text, and the
fast CSV lines are byte for byte what the reports toolkit writes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from governance.models.types import canonical_json
from governance.reports.tabular import iter_csv
from governance.services.audit import canonical_content, content_text, format_time
from governance.services.audit_export import csv_line, iter_csv_rows
from governance.services.audit_query import EXPORT_COLUMNS

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
maybe_text = st.none() | texts
maybe_int = st.none() | st.integers(min_value=-(2**40), max_value=2**40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8)
moments = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                       timezones=st.just(dt.UTC))
DANGEROUS = st.sampled_from(["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx", "\nx",
                             '=HYPERLINK("http://x","y")', "plain", "a,b", 'say "hi"', ""])


@given(email=maybe_text, actor=maybe_int, agreement=maybe_int, version=maybe_int,
       clause=maybe_text, dataset=maybe_int, detail=st.dictionaries(texts, json_values,
                                                                     max_size=4),
       kind=texts, moment=moments, outcome=texts, rule=maybe_text,
       seq=st.integers(min_value=1, max_value=2**50), target_id=maybe_text,
       target_type=maybe_text)
def test_content_text_is_the_canonical_json_of_the_event(
        email: str | None, actor: int | None, agreement: int | None, version: int | None,
        clause: str | None, dataset: int | None, detail: dict[str, Any], kind: str,
        moment: dt.datetime, outcome: str, rule: str | None, seq: int, target_id: str | None,
        target_type: str | None) -> None:
    event = {"seq": seq, "occurred_at": moment, "event_type": kind, "outcome": outcome,
             "actor_id": actor, "actor_email": email, "agreement_id": agreement,
             "agreement_version": version, "dataset_id": dataset, "target_type": target_type,
             "target_id": target_id, "rule": rule, "clause": clause, "detail": detail}
    expected = canonical_json({**event, "occurred_at": format_time(moment)})
    assert canonical_content(event) == expected
    # The verifier passes the stored detail text straight through.
    assert content_text(email, actor, agreement, version, clause, dataset,
                        canonical_json(detail), kind, format_time(moment), outcome, rule, seq,
                        target_id, target_type) == expected


@given(st.lists(st.tuples(
    st.integers(min_value=1), DANGEROUS | texts, DANGEROUS, DANGEROUS, maybe_int,
    DANGEROUS | maybe_text, maybe_int, maybe_int, maybe_int, DANGEROUS | maybe_text,
    DANGEROUS | maybe_text, DANGEROUS | maybe_text, DANGEROUS | maybe_text, DANGEROUS,
    DANGEROUS, DANGEROUS), max_size=5))
def test_csv_lines_match_the_reports_toolkit(rows: list[tuple[Any, ...]]) -> None:
    ours = b"".join(iter_csv_rows(rows)).decode()
    toolkit = b"".join(iter_csv(rows, header=EXPORT_COLUMNS, trailer=True)).decode()
    assert ours == toolkit


def test_csv_neutralises_formula_cells() -> None:
    line = csv_line((1, "2026-01-01T00:00:00.000000Z", "auth:login_failed", "failure", None,
                     "=cmd|' /C calc'!A0", None, None, None, "user", "+1", "-x", "@y",
                     '{"a":"=1"}', "\tz", "0" * 64))
    assert line.startswith("1,2026-01-01T00:00:00.000000Z,auth:login_failed,failure,,")
    assert ",'=cmd|' /C calc'!A0," in line
    assert ",'+1,'-x,'@y," in line
    assert "'\tz" in line
