"""Partner cohort files: the people a partner worked with, uploaded for a matched comparison.

The analyst uploads the partner's CSV (name, date_of_birth, sex, intervention_start, optional
intervention_end) under an active agreement that permits matched comparisons and names them as
personnel. The file is checked as every upload is (size, UTF-8, no NUL bytes, header, field
sizes: governance/datasets/ingest), any other column (a partner's free-text reference or notes) is
dropped before anything is stored, and the rest is stored encrypted by the datastore. The file
belongs to the agreement's provider, which the scope gate checks whenever a run uses it.
Row-level problems (an unreadable date, an unknown sex code) are counted here and reported per
reason in the analysis's cohort flow; they do not refuse the file.
"""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.agreements.models import Agreement
from governance.agreements.queries import in_force_version
from governance.analysis.engine.normalise import name_keys, normalise_sex, parse_dates
from governance.analysis.scope import not_active_clause
from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from governance.authz import Permission
from governance.datasets import datastore
from governance.datasets.cohort_model import CohortFile
from governance.datasets.datastore.cohorts import CohortColumn
from governance.datasets.ingest import IngestionRefused, parse_csv_frame
from governance.datasets.ingestion import clean_filename, limits_of
from governance.identity.models import User
from governance.kernel.errors import NotFound, PermissionDenied, ValidationFailed
from governance.kernel.text import clean_line

MATCHED = "matched_comparison"


def _header(data: bytes) -> list[str]:
    first = data.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", "replace")
    return [name.strip() for name in next(csv.reader([first]), [])]


def upload_cohort(
    session: Session,
    *,
    agreement_id: int,
    data: bytes,
    filename: str,
    label: str,
    by: User,
    now: dt.datetime,
) -> CohortFile:
    """Check and store a partner cohort file under the agreement; recorded `cohort:upload`."""
    refusal: dict[str, Any] = {
        "event_type": AuditType.COHORT_UPLOAD,
        "now": now,
        "agreement_id": agreement_id,
        "target_type": "agreement",
        "target_id": agreement_id,
    }
    authz.require(by, Permission.ANALYSIS_RUN, audit=refusal)
    agreement = session.get(Agreement, agreement_id)
    if agreement is None:
        raise NotFound(f"There is no agreement {agreement_id}.")
    version = in_force_version(session, agreement_id)
    if version is None:
        clause = not_active_clause(agreement)
        raise PermissionDenied(
            f"Agreement {agreement.reference} is {agreement.status}, not active.",
            clause=clause,
            audit={**refusal, "clause": clause},
        )
    if MATCHED not in version.permitted_uses:
        raise PermissionDenied(
            "This agreement does not permit matched comparisons, the only "
            "analysis that reads a cohort file.",
            clause="scope.permitted_uses",
            audit={**refusal, "clause": "scope.permitted_uses"},
        )
    if not version.is_personnel(by.id):
        raise PermissionDenied(
            f"{by.name} is not authorised personnel on this agreement.",
            clause="personnel",
            audit={**refusal, "clause": "personnel"},
        )
    errors: dict[str, str] = {}
    name = clean_filename(filename)
    title = clean_line(label, "label", errors, max_length=200, required=False) or name
    if errors:
        raise ValidationFailed("The label is not valid; nothing was saved.", errors)
    declared = [c.name for c in datastore.COHORT_COLUMNS]
    extra = [
        CohortColumn(n, required=False)
        for n in dict.fromkeys(_header(data))
        if n and n not in declared
    ]
    try:
        frame = parse_csv_frame(data, [*datastore.COHORT_COLUMNS, *extra], limits_of(session))
    except IngestionRefused as refused:
        refused.recorded_as(
            {
                **refusal,
                "outcome": Outcome.FAILURE,
                "detail": {
                    "source_filename": name,
                    "reason": refused.message,
                    "problems": [p.text for p in refused.problems[:5]],
                },
            }
        )
        raise
    if frame.empty:
        raise ValidationFailed("The cohort file has no rows.", {"file": "No rows."})
    frame = frame[declared]
    cohort = datastore.store_cohort(
        session,
        cohort=CohortFile(
            agreement_id=agreement.id,
            provider_id=agreement.provider_id,
            uploaded_by_id=by.id,
            label=title,
            source_filename=name,
            created_at=now,
        ),
        frame=frame,
    )
    audit.record(
        session,
        AuditType.COHORT_UPLOAD,
        by=by,
        agreement_id=agreement.id,
        agreement_version=version.number,
        target_type="cohort_file",
        target_id=cohort.id,
        clause="parties.provider",
        now=now,
        detail={
            "source_filename": name,
            "rows": cohort.row_count,
            "sha256": cohort.sha256,
            "provider_id": agreement.provider_id,
            "dropped_columns": [c.name for c in extra],
            "row_problems": row_problems(frame),
        },
    )
    return cohort


def row_problems(frame: pd.DataFrame) -> dict[str, int]:
    """Rows the linkage will drop as invalid, counted by reason (the engine's own checks)."""
    text = frame.astype("string")
    counts = {
        "invalid_name": int((name_keys(text["name"].fillna(""))["full_key"] == "").sum()),
        "invalid_date_of_birth": int(parse_dates(text["date_of_birth"]).isna().sum()),
        "invalid_sex": int(normalise_sex(text["sex"]).isna().sum()),
        "invalid_intervention_start": int(parse_dates(text["intervention_start"]).isna().sum()),
    }
    return {reason: n for reason, n in counts.items() if n}


def cohorts_for(session: Session, *, agreement_id: int, by: User) -> list[CohortFile]:
    """The analyst's own live cohort files under an agreement."""
    return list(
        session.scalars(
            select(CohortFile)
            .where(
                CohortFile.agreement_id == agreement_id,
                CohortFile.uploaded_by_id == by.id,
                CohortFile.destroyed_at.is_(None),
            )
            .order_by(CohortFile.id.desc())
        )
    )
