"""Column names inside composed text are set as code; the rest of the text stays escaped."""

from __future__ import annotations

from governance.kernel.labels import code_spans


def test_each_identifier_in_a_clause_value_is_set_as_code() -> None:
    html = str(code_spans("person_id, risk_level and age"))
    assert html == "<code>person_id</code>, <code>risk_level</code> and age"


def test_markup_typed_into_a_value_is_escaped_not_run() -> None:
    """An insider who names a column or types a term with markup gets text, not a script."""
    html = str(code_spans('<script>alert("x")</script> secret_col'))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert html.endswith("<code>secret_col</code>")


def test_nothing_reads_as_nothing() -> None:
    assert str(code_spans(None)) == ""
    assert str(code_spans("")) == ""
