"""The governance metrics through the API: the page's figures as JSON and as CSV (the same
query module, so the three cannot disagree)."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.typing import ResponseReturnValue

from governance.api import schema as s
from governance.api.operations import Answer, Param, operation
from governance.identity.api_auth import caller
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.metrics import figures

TAG = "Governance metrics"
HOURS = {"type": ["number", "null"], "description": "Hours; null when no request took the step."}
_COUNT = s.integer(0, 2**31)
SCHEMAS = {
    "GovernanceMetrics": s.shape(
        {
            "today": s.string_out("The day (UTC) the figures were read."),
            "months": {
                "type": "array",
                "items": s.shape(
                    {
                        "month": s.string_out("YYYY-MM"),
                        "received": _COUNT,
                        "decided": _COUNT,
                        "approved": _COUNT,
                        "narrowed": _COUNT,
                        "rejected": _COUNT,
                    }
                ),
            },
            "steps": {
                "type": "array",
                "items": s.shape(
                    {
                        "key": s.enum([key for key, _ in figures.STEPS]),
                        "label": s.string_out(),
                        "count": _COUNT,
                        "median_hours": HOURS,
                        "p90_hours": HOURS,
                    }
                ),
            },
            "overdue_tasks": {
                "type": "array",
                "items": s.shape(
                    {
                        "owner_id": s.identifier(),
                        "owner": s.string_out(),
                        "overdue": _COUNT,
                        "oldest_due": s.string_out(),
                    }
                ),
            },
            "expiring_agreements": {
                "type": "array",
                "items": s.shape(
                    {
                        "agreement_id": s.identifier(),
                        "reference": s.string_out(),
                        "expiry_date": s.string_out(),
                        "days_left": _COUNT,
                    }
                ),
            },
            "unreviewed_grants": {
                "type": "array",
                "items": s.shape(
                    {
                        "grant_id": s.identifier(),
                        "holder_id": s.identifier(),
                        "dataset_id": s.identifier(),
                        "agreement_id": s.identifier(),
                        "last_reviewed": {"type": ["string", "null"]},
                        "since": s.string_out(),
                    }
                ),
            },
            "output_checks": {
                "type": "array",
                "items": s.shape(
                    {"checker": s.string_out(), "approved": _COUNT, "returned": _COUNT}
                ),
            },
        }
    )
}
QUERY = (
    Param("start", s.date(), "The first day (UTC) of the period, inclusive."),
    Param("end", s.date(), "The last day (UTC) of the period, inclusive."),
    Param("dataset_id", s.integer(1, s.MAX_ID), "Only requests for this dataset."),
    Param(
        "organization_id", s.integer(1, s.MAX_ID), "Only requests by this organisation's people."
    ),
)


def _filters(query: dict[str, Any]) -> figures.Filters:
    return figures.Filters(
        start=query.get("start"),
        end=query.get("end"),
        dataset_id=query.get("dataset_id"),
        organization_id=query.get("organization_id"),
    )


@operation(
    "GET",
    "/metrics",
    tag=TAG,
    summary="Governance metrics: requests, turnaround, overdue tasks, expiries, reviews, checks",
    query=QUERY,
    errors=(403,),
    answer=Answer(200, "The figures of the metrics page.", s.ref("GovernanceMetrics")),
)
def governance_metrics(query: dict[str, Any]) -> ResponseReturnValue:
    """Needs `metrics:read`. Medians and 90th percentiles interpolate linearly between ranks."""
    found = figures.read_figures(db_session(), filters=_filters(query), by=caller(), now=utcnow())
    return {
        "today": found.today.isoformat(),
        "months": [vars(m) for m in found.months],
        "steps": [vars(step) for step in found.steps],
        "overdue_tasks": [
            {**vars(o), "oldest_due": o.oldest_due.isoformat()} for o in found.overdue
        ],
        "expiring_agreements": [
            {**vars(a), "expiry_date": a.expiry_date.isoformat()} for a in found.expiring
        ],
        "unreviewed_grants": [
            {
                **vars(g),
                "last_reviewed": g.last_reviewed.isoformat() if g.last_reviewed else None,
                "since": g.since.isoformat(),
            }
            for g in found.unreviewed
        ],
        "output_checks": [
            {"checker": c.checker, "approved": c.approved, "returned": c.returned}
            for c in found.checkers
        ],
    }


@operation(
    "GET",
    "/metrics/csv",
    tag=TAG,
    summary="Governance metrics as CSV (figure, subject, measure, value)",
    query=QUERY,
    errors=(403,),
    answer=Answer(200, "Every figure, one per row.", None, media_types=("text/csv",)),
)
def governance_metrics_csv(query: dict[str, Any]) -> ResponseReturnValue:
    """Needs `metrics:read`."""
    found = figures.read_figures(db_session(), filters=_filters(query), by=caller(), now=utcnow())
    return Response(
        figures.csv_export(found),
        mimetype="text/csv",
        headers={"Cache-Control": "no-store"},
    )
