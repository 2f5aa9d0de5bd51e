"""Each audit event reads as a sentence: every type the code records has its words, and an
unknown type still reads as words, never as a code."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance import registry
from governance.audit.directory import Names
from governance.audit.models import AuditType, Outcome
from governance.audit.sentences import (
    EVENT_LABELS,
    VERBS,
    detail_items,
    event_label,
    sentence,
    sentence_html,
)
from governance.kernel.labels import CODE_PATTERN

GOVERNANCE = Path(__file__).resolve().parents[2] / "governance"
NAMES = Names(
    people={"alex.kim@lab.example": "Alex Kim", "sam@lab.example": "Sam Reyes"},
    agreements={7: "DUA-2026-001"},
    datasets={3: "Index events"},
)


@pytest.fixture(autouse=True)
def _labels() -> None:
    registry.install()  # the labels every process has (installing twice is the same as once)


@dataclass
class Event:
    event_type: str
    outcome: str = Outcome.SUCCESS.value
    actor_email: str | None = "alex.kim@lab.example"
    agreement_id: int | None = None
    agreement_version: int | None = None
    dataset_id: int | None = None
    target_type: str | None = None
    target_id: str | None = None
    rule: str | None = None
    clause: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def emitted_event_types() -> set[str]:
    """Every `AuditType.NAME` the service's code mentions (what it can record)."""
    found: set[str] = set()
    for path in GOVERNANCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "AuditType"
            ):
                found.add(node.attr)
    return found


def visible_codes(text: str) -> list[str]:
    return CODE_PATTERN.findall(text)


def test_every_event_type_the_code_records_has_its_words() -> None:
    emitted = emitted_event_types()
    assert len(emitted) > 100  # the scan found the code's events
    unknown = sorted(name for name in emitted if name not in AuditType.__members__)
    assert not unknown, f"AuditType members the code uses but the enum lacks: {unknown}"
    without = sorted(kind.value for kind in AuditType if kind not in VERBS)
    assert not without, f"event types without a sentence: {without}"


@pytest.mark.parametrize("kind", list(AuditType), ids=lambda kind: kind.value)
@pytest.mark.parametrize("outcome", list(Outcome), ids=lambda outcome: outcome.value)
def test_every_event_type_reads_as_a_sentence(kind: AuditType, outcome: Outcome) -> None:
    event = Event(
        kind.value,
        outcome=outcome.value,
        agreement_id=7,
        agreement_version=2,
        dataset_id=3,
        target_type="output",
        target_id="5",
        clause="scope.permitted_uses",
        rule="Not in the agreement's permitted uses",
        detail={"email": "sam@lab.example", "role": "privacy_officer"},
    )
    text = sentence(event, NAMES)
    assert text.endswith(".")
    assert text[0].isupper()
    assert "Alex Kim" in text
    assert "DUA-2026-001" in text
    assert "“" not in text  # not the fallback for unknown types
    assert visible_codes(text) == [], text
    if outcome == Outcome.DENIED:
        assert text.startswith("Refused: Alex Kim tried to ")
    label = EVENT_LABELS[kind.value]
    assert label == event_label(kind.value)
    assert visible_codes(label) == [], label


def test_a_read_reads_as_the_compliance_manager_says_it() -> None:
    event = Event(
        AuditType.DATASET_READ.value,
        outcome=Outcome.ALLOWED.value,
        agreement_id=7,
        dataset_id=3,
        target_type="dataset",
        target_id="3",
        clause="scope.datasets",
        detail={"shown": ["sex", "region"], "row_count": 50, "version": 1},
    )
    assert sentence(event, NAMES) == (
        "Alex Kim read 50 rows of Index events v1: sex, region, under DUA-2026-001"
        " (clause: Datasets and columns covered)."
    )
    html = str(sentence_html(event, NAMES))
    assert "<code>sex</code>, <code>region</code>" in html


def test_a_refused_read_names_the_columns_and_why() -> None:
    event = Event(
        AuditType.DATASET_READ.value,
        outcome=Outcome.DENIED.value,
        agreement_id=7,
        dataset_id=3,
        rule="Column not granted",
        detail={"shown": ["employed"], "row_count": 0},
    )
    assert sentence(event, NAMES) == (
        "Refused: Alex Kim tried to read Index events: employed, under DUA-2026-001"
        " — Column not granted."
    )


def test_a_failed_sign_in_of_an_unknown_account_says_so() -> None:
    event = Event(
        AuditType.LOGIN_FAILED.value,
        outcome=Outcome.FAILURE.value,
        actor_email="nobody@else.example",
        detail={"email": "nobody@else.example", "reason": "unknown account"},
    )
    assert sentence(event, NAMES) == (
        "nobody@else.example tried to sign in, which failed (unknown account)."
    )


def test_an_unknown_event_type_still_reads_as_words() -> None:
    text = sentence(Event("dataset:teleport", target_type="dataset_clone", target_id="4"), NAMES)
    assert text == "Alex Kim recorded “dataset teleport” dataset clone 4."
    assert visible_codes(text) == []


def test_hostile_text_in_a_detail_is_escaped_on_the_page() -> None:
    event = Event(
        AuditType.OUTPUT_PRODUCE.value,
        target_type="output",
        target_id="1",
        detail={"title": "<script>alert(1)</script>", "columns": ["<b>x</b>"]},
    )
    html = str(sentence_html(event, NAMES))
    assert "<script>" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;" in html


def test_system_jobs_are_named_as_the_system() -> None:
    event = Event(
        AuditType.GRANT_EXPIRE.value,
        actor_email="system:expiry",
        target_type="grant",
        target_id="9",
    )
    assert sentence(event, NAMES) == "The system recorded the end of access to grant 9."


def test_the_detail_is_listed_with_labels() -> None:
    items = dict(detail_items(Event("grant:create", detail={"valid_until": "2027-01-31"})))
    assert items == {"Valid until": "2027-01-31"}
    assert re.fullmatch(r"[A-Z][a-z ]+", next(iter(items)))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    event_type=st.sampled_from([kind.value for kind in AuditType]) | st.text(max_size=30),
    outcome=st.sampled_from([outcome.value for outcome in Outcome]),
    detail=st.dictionaries(
        st.sampled_from(["shown", "columns", "row_count", "version", "title", "reason", "email"])
        | st.text(max_size=10),
        JSON_VALUES,
        max_size=6,
    ),
    target=st.none() | st.text(max_size=20),
)
def test_any_recorded_event_reads_as_one_escaped_sentence(
    event_type: str, outcome: str, detail: dict[str, Any], target: str | None
) -> None:
    """Whatever a row holds (a forged type, hostile text, odd JSON), the page gets one
    sentence with nothing but column names set as markup."""
    event = Event(event_type, outcome=outcome, target_type=target, target_id="1", detail=detail)
    text = sentence(event, NAMES)
    assert text.endswith(".")
    html = str(sentence_html(event, NAMES))
    assert "<" not in re.sub(r"</?code>", "", html)
