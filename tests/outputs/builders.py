"""Builders for output tests: an active agreement, a JDL-style released result (a headline
table with counts of at least 10 and a suppressed cell), its PDF and CSV, and outputs moved
along their path by the services, with time passed in explicitly."""

from __future__ import annotations

import copy
import datetime as dt
import functools
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.agreements.models import Agreement
from governance.audit.models import AuditEvent
from governance.kernel.reports.pdf import render_pdf_string
from governance.outputs import preview as output_preview
from governance.outputs import service as outputs
from governance.outputs.models import Output
from tests.agreements import builders as agreement_builders
from tests.agreements.builders import Datasets
from tests.support import People

# An hour ago: services are given explicit moments from here on, and the pages (which use the
# real clock) then see the same outputs as the services left them.
T0 = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0)
DAY = dt.timedelta(days=1)
SOON = dt.timedelta(minutes=10)
# Only ever in the checkers' disclosure record: must never reach a partner or the public.
CHECKER_ONLY = "checker-only-record-7f3a"

HEADLINE = {
    "id": "headline",
    "title": "Proven re-offending within one year",
    "dimensions": ["group"],
    "measure": "rate",
    "population": "people released in 2024",
    "cells": [
        {
            "id": "headline/treatment",
            "labels": {"group": "Treatment"},
            "suppressed": False,
            "values": {"count": 120, "events": 38, "rate": 38 / 120},
        },
        {
            "id": "headline/comparison",
            "labels": {"group": "Comparison"},
            "suppressed": False,
            "values": {"count": 4800, "events": 1824, "rate": 0.38},
        },
    ],
}
BY_SEX = {
    "id": "by_sex",
    "title": "Treatment group by sex",
    "dimensions": ["sex"],
    "measure": "count",
    "cells": [
        {
            "id": "by_sex/female",
            "labels": {"sex": "Female"},
            "suppressed": True,
            "values": {"count": None},
        },
        {
            "id": "by_sex/male",
            "labels": {"sex": "Male"},
            "suppressed": True,
            "values": {"count": None},
        },
        {
            "id": "by_sex/total",
            "labels": {"sex": "Total"},
            "suppressed": False,
            "values": {"count": 120},
        },
    ],
}


def headline_result() -> dict[str, Any]:
    return copy.deepcopy(
        {
            "tables": [HEADLINE, BY_SEX],
            "figures": [{"id": "figure.rates", "title": "Re-offending rates with 95% intervals"}],
            "statistics": [
                {"id": "statistic.difference_pp", "label": "Difference (points)", "value": -6.3},
                {"id": "statistic.p_value", "label": "p-value", "value": 0.14},
            ],
            "notes": ["Counts are of distinct people."],
            "caveats": ["These rates should not be compared with national rates."],
        }
    )


def disclosure_record() -> dict[str, Any]:
    return {
        "policy": {"min_cell_size": 10, "dominance_k": 0.9, "note": CHECKER_ONLY},
        "cells": [
            {"part": "by_sex/female", "suppressed": True, "rules": ["threshold"]},
            {"part": "by_sex/male", "suppressed": True, "rules": ["secondary"]},
            {"part": "headline/treatment", "suppressed": False, "rules": []},
        ],
    }


@functools.cache
def report_pdf(title: str = "Diversion programme: re-offending") -> bytes:
    rendered = render_pdf_string(
        '<html lang="en"><h1>{{ title }}</h1><table><tr><th>Group</th><th>People</th>'
        "<th>Re-offended</th></tr>"
        "{% for row in rows %}<tr><td>{{ row[0] }}</td><td>{{ row[1] }}</td>"
        "<td>{{ row[2] }}</td></tr>{% endfor %}</table></html>",
        {"title": title, "rows": [("Treatment", 120, 38), ("Comparison", 4800, 1824)]},
    )
    return rendered.content


def active_agreement(
    db: Session, people: People, datasets: Datasets, **overrides: Any
) -> Agreement:
    return agreement_builders.approved(db, people, datasets, **overrides)


def produce(
    db: Session,
    people: People,
    agreement: Agreement,
    *,
    now: dt.datetime = T0,
    commit: bool = True,
    **overrides: Any,
) -> Output:
    result = overrides.pop("result", None) or headline_result()
    values: dict[str, Any] = {
        "run_id": 41,
        "agreement_id": agreement.id,
        "agreement_version": agreement.current_version_number or 1,
        "title": "Re-offending after the diversion programme",
        "kind": "matched_comparison",
        "summary": "For every 100 typical people in the treatment group, 32 committed a proven "
        "re-offence within one year, compared with 38 in the comparison group.",
        "result": result,
        "disclosure": disclosure_record(),
        "pdf": report_pdf(),
        "populations": [{"label": "treatment", "size": 120}],
        "by": people.analyst,
        "now": now,
    }
    values.update(overrides)
    output = outputs.produce_output(db, **values)
    if commit:
        db.commit()
    return output


def correct(db: Session, people: People, output: Output, now: dt.datetime) -> Output:
    """The team's correction of the output with the same figures."""
    return outputs.correct_output(
        db,
        output_id=output.id,
        result=headline_result(),
        pdf=report_pdf("Corrected"),
        summary="Corrected summary.",
        by=people.analyst,
        now=now,
    )


def check_twice(
    db: Session, people: People, output: Output, *, now: dt.datetime = T0 + SOON
) -> Output:
    outputs.check_output(
        db, output_id=output.id, approve=True, reasons="", by=people.checker, now=now
    )
    outputs.check_output(
        db,
        output_id=output.id,
        approve=True,
        reasons="Counts all >= 10.",
        by=people.privacy,
        now=now,
    )
    db.commit()
    return output


def released(db: Session, people: People, agreement: Agreement, **overrides: Any) -> Output:
    """Produced, checked twice, previewed without flags, cleared and released."""
    output = check_twice(db, people, produce(db, people, agreement, **overrides))
    output_preview.close_due_previews(db, outputs_system(), T0 + 40 * DAY)
    db.commit()
    return output


def published(db: Session, people: People, agreement: Agreement, **overrides: Any) -> Output:
    output = released(db, people, agreement, **overrides)
    outputs.publish_output(db, output_id=output.id, by=people.privacy, now=T0 + 41 * DAY)
    db.commit()
    return output


def outputs_system() -> Any:
    from governance.periodic import SCHEDULER

    return SCHEDULER


def event_types(db: Session, output_id: int, *, outcome: str | None = "success") -> list[str]:
    statement = select(AuditEvent).where(
        AuditEvent.target_type == "output", AuditEvent.target_id == str(output_id)
    )
    if outcome:
        statement = statement.where(AuditEvent.outcome == outcome)
    return [str(e.event_type) for e in db.scalars(statement.order_by(AuditEvent.seq))]


def denied(db: Session, event_type: str) -> list[AuditEvent]:
    db.rollback()
    return list(
        db.scalars(
            select(AuditEvent)
            .where(AuditEvent.event_type == event_type, AuditEvent.outcome == "denied")
            .order_by(AuditEvent.seq)
        )
    )
