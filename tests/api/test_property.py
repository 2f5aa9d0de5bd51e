"""A property-based run against the API: requests generated from its OpenAPI description by
schemathesis, sent as a privacy officer and as an analyst, find no server error, answer only
with declared statuses, media types and shapes, and leave the audit chain intact."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit import service as audit
from governance.audit.models import AuditEvent
from governance.audit.verify import verify_chain
from governance.kernel.extensions import database
from governance.kernel.reports import pdf
from tests.api.scenario import World
from tests.conftest import fresh

# Examples per operation and caller: about 50 operations x 2 callers, a few seconds per
# database on two cores.
EXAMPLES = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _run(operation: Any, headers: dict[str, str], ids: dict[str, int] | None = None) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(path_parameters=ids))
    def generated(case: Any) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS)

    generated()


@pytest.fixture
def quick_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """Agreement PDFs as fixed bytes: WeasyPrint would take most of the run (the PDF itself
    is tested in tests/agreements/test_pdf.py)."""
    content = b"%PDF-1.7 stand-in"
    monkeypatch.setattr(
        pdf,
        "render_pdf",
        lambda *_a, **_k: pdf.RenderedPDF(
            content=content, sha256=hashlib.sha256(content).hexdigest()
        ),
    )


@pytest.mark.slow
@pytest.mark.usefixtures("quick_pdf")
def test_generated_requests_find_no_server_error(app: Flask, world: World, db: Session) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30
    # Generated ids mostly name nothing; a second pass names real objects, of the caller's
    # own agreement and of another organisation's, so generated bodies reach the services.
    # The world holds no preview flag yet: flag 1 names none, or one a generated request
    # raised earlier in the run (so do period, item and mapping 1).
    real = [
        {
            "agreement_id": world.mine.id,
            "request_id": world.my_pending.id,
            "grant_id": world.my_grant.id,
            "dataset_id": world.datasets.arrests.id,
            "token_id": world.token_ids["analyst2"],
            "run_id": world.my_run.id,
            "output_id": world.my_output.id,
            "flag_id": 1,
            "reclassification_id": world.reclassification.id,
            # No audit period, certification item or group mapping exists in this world: 1
            # names none, or one a generated request made earlier in the run.
            "period_id": 1,
            "item_id": 1,
            "mapping_id": 1,
            # No committee, case or member exists in this world either.
            "committee_id": 1,
            "case_id": 1,
            "user_id": world.outsider.id,
            # Nor any webhook endpoint or delivery (the callers are not administrators).
            "endpoint_id": 1,
            "delivery_id": 1,
            # Nor any GA4GH visa.
            "jti": "9b2f7c7e-3a3e-4b8e-9a53-0c0ffee00000",
        },
        {
            "agreement_id": world.theirs.id,
            "request_id": world.their_request.id,
            "grant_id": world.their_grant.id,
            "dataset_id": world.datasets.probation.id,
            "token_id": world.token_ids["outsider"],
            "run_id": world.their_run.id,
            "output_id": world.their_output.id,
            "flag_id": 1,
            "reclassification_id": world.reclassification.id,
            # No audit period, certification item or group mapping exists in this world: 1
            # names none, or one a generated request made earlier in the run.
            "period_id": 1,
            "item_id": 1,
            "mapping_id": 1,
            # No committee, case or member exists in this world either.
            "committee_id": 1,
            "case_id": 1,
            "user_id": world.outsider.id,
            # Nor any webhook endpoint or delivery (the callers are not administrators).
            "endpoint_id": 1,
            "delivery_id": 1,
            # Nor any GA4GH visa.
            "jti": "9b2f7c7e-3a3e-4b8e-9a53-0c0ffee00000",
        },
    ]
    failures: list[str] = []
    for key in ("privacy", "analyst"):
        headers = {"Authorization": f"Bearer {world.token(key)}"}
        for operation in operations:
            names = [p.name for p in operation.path_parameters]
            for ids in [None, *([{n: side[n] for n in names} for side in real] if names else [])]:
                try:
                    _run(operation, headers, ids)
                except (Exception, BaseExceptionGroup) as failure:  # every failure, at once
                    failures.append(f"{key} {operation.label} {ids}: {failure}")
    assert not failures, "\n\n".join(failures)
    fresh(db)
    result = verify_chain(database(app).read_engine(), audit.settings_of(db))
    assert result.intact, result.summary()
    assert db.scalars(select(AuditEvent).where(AuditEvent.outcome == "denied")).first()
