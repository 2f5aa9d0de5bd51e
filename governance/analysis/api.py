"""Analysis runs through the API: the runs you can see, one run with its released result, and
submitting a run inside an agreement's approved scope (analysis/runs.py, as the pages).

The scope gate decides who may run what (403, recorded as `analysis:refuse`), the engine which
parameters are valid (422 naming the field); the API only checks the shape of the body. A run
answers with the disclosure-controlled result the run page shows, never rows.
"""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from governance.agreements.analysis_kind_model import AnalysisKind
from governance.analysis import runs as service
from governance.analysis.engine import kind_parameters
from governance.analysis.models import AnalysisRun, RunStatus
from governance.analysis.report import without_rules
from governance.api import schema as s
from governance.api.operations import Answer, Param, operation
from governance.api.responses import iso, page_schema, paged
from governance.identity.api_auth import caller
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.outputs.web import file_response
from governance.web.paging import paginate

TAG = "Analyses"
NULLABLE_ID = {"type": ["integer", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
NULLABLE_OBJECT = {"type": ["object", "null"]}
NAMES = s.array(s.text(120, min_length=1), max_items=100)
WORD = s.text(60)
SUMMARY_FIELDS: dict[str, s.Schema] = {
    "id": s.identifier(),
    "title": s.string_out(),
    "kind": s.string_out(
        "One of the agreement's permitted uses; also the purpose the grants are checked for."
    ),
    "status": s.enum(RunStatus),
    "agreement_id": s.identifier(),
    "agreement_version": s.integer(1),
    "requested_by_id": s.identifier(),
    "progress": s.number(0, 1),
    "progress_message": s.string_out(),
    "attempts": s.integer(0),
    "max_attempts": s.integer(0),
    "created_at": s.time_out(),
    "started_at": NULLABLE_TIME,
    "finished_at": NULLABLE_TIME,
    "reason": s.string_out("Why the run failed or was refused."),
    "clause": {"type": ["string", "null"], "description": "The agreement clause a refusal cites."},
}
RUN = s.shape(
    {
        **SUMMARY_FIELDS,
        "datasets": {
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "description": "Source table -> dataset id.",
        },
        "cohort_file_id": NULLABLE_ID,
        "result": {
            **NULLABLE_OBJECT,
            "description": "The released, disclosure-controlled result "
            "(once the run succeeded): tables with "
            "suppressed cells marked, statistics, notes, "
            "caveats. Never rows.",
        },
        "provenance": {
            **NULLABLE_OBJECT,
            "description": "Engine version, agreement version, parameters and the sources read.",
        },
        "figures_withheld": {
            "type": ["string", "null"],
            "description": "Why the result is not shown to you (the agreement is no longer in "
            "force, or you hold no current grant for the run's purpose); null when it is.",
        },
        "report_sha256": {"type": ["string", "null"]},
        "csv_sha256": {"type": ["string", "null"]},
        "output_id": {**NULLABLE_ID, "description": "The output the result went to for checking."},
    }
)
SCHEMAS = {
    "AnalysisRunSummary": s.shape(SUMMARY_FIELDS),
    "AnalysisRun": RUN,
    "AnalysisRunPage": page_schema(s.ref("AnalysisRunSummary")),
}

# The JSON type of every parameter any kind takes. What each means, and which kinds take it,
# comes from the engine (`kind_parameters`), which refuses any parameter its kind does not
# take (422 naming it): one source for the API, its description and the run form.
PARAMETER_TYPES: dict[str, s.Schema] = {
    "group_by": s.array(s.text(120, min_length=1), max_items=10),
    "rate_of": s.text(120),
    "mean_of": s.text(120),
    "group_column": s.text(120),
    "group_a": s.text(120),
    "group_b": s.text(120),
    "outcome": s.text(120),
    "interval": s.text(20),
    "covariates": NAMES,
    "categorical": NAMES,
    "matching": s.obj(
        {
            "method": WORD,
            "neighbours": s.integer(0, 1000),
            "replace": s.boolean(),
            "caliper": s.nullable(s.number(0, 100)),
            "caliper_sd": WORD,
            "distance": WORD,
            "order": WORD,
            "random_seed": s.integer(0),
            "smd_denominator": WORD,
            "variance": WORD,
        }
    ),
    "eligibility": s.obj(
        {
            "min_age": s.integer(0, 150),
            "min_cohort_size": s.integer(0),
            "follow_up_days": s.integer(0, 100_000),
            "waiting_days": s.integer(0, 100_000),
            "index_window_days": s.integer(0, 100_000),
            "excluded_offence_categories": NAMES,
            "data_complete_until": s.nullable(s.text(20)),
            "index_event_rule": WORD,
        }
    ),
    "max_abs_smd": s.number(0, 5),
    "day_first": s.boolean(),
    "linkage": s.obj(
        {
            "method": s.enum(["deterministic", "probabilistic"]),
            "accept_probability": s.number(0, 1),
            "review_probability": s.number(0, 1),
        }
    ),
    "excluded_offence_categories": NAMES,
}


def _parameters_schema() -> s.Schema:
    taken = kind_parameters()
    properties = {}
    for name, shape in PARAMETER_TYPES.items():
        meanings = [f"{kind}: {params[name]}" for kind, params in taken.items() if name in params]
        properties[name] = {**shape, "description": " ".join(meanings)}
    kinds = "; ".join(f"{kind} takes {', '.join(params)}" for kind, params in taken.items())
    return s.obj(
        properties,
        description=f"The analysis's parameters. Which apply depends on "
        f"the kind: {kinds}. Any other parameter is refused "
        "(422 naming it), never ignored.",
    )


PARAMETERS = _parameters_schema()


def summary(run: AnalysisRun) -> dict[str, Any]:
    return {
        "id": run.id,
        "title": run.title,
        "kind": run.kind,
        "status": str(run.status),
        "agreement_id": run.agreement_id,
        "agreement_version": run.agreement_version,
        "requested_by_id": run.requested_by_id,
        "progress": run.progress,
        "progress_message": run.progress_message,
        "attempts": run.attempts,
        "max_attempts": run.max_attempts,
        "created_at": iso(run.created_at),
        "started_at": iso(run.started_at),
        "finished_at": iso(run.finished_at),
        "reason": run.reason,
        "clause": run.clause,
    }


def render(run: AnalysisRun, withheld: str | None = None) -> dict[str, Any]:
    """What the run page shows: the result and provenance only once the run succeeded, the
    result only to those who may read it now (`withheld` says why not)."""
    done = run.status == RunStatus.SUCCEEDED
    made = service.output_of(db_session(), run.id)
    output = made.id if made else None
    return {
        **summary(run),
        "datasets": dict(run.datasets),
        "cohort_file_id": run.cohort_file_id,
        "result": without_rules(run.result) if done and withheld is None and run.result else None,
        "figures_withheld": withheld,
        "provenance": run.provenance if done else None,
        "report_sha256": run.report_sha256 if done else None,
        "csv_sha256": run.csv_sha256 if done else None,
        "output_id": output,
    }


@operation(
    "GET",
    "/analyses",
    tag=TAG,
    summary="List the analysis runs you can see",
    query=(
        Param("status", s.enum(RunStatus)),
        Param("page", s.integer(1, 1_000_000)),
        Param("per_page", s.integer(1, 200)),
        Param("sort", s.enum(("created", "status", "id"))),
        Param("dir", s.enum(("asc", "desc"))),
    ),
    answer=Answer(200, "One page of runs.", s.ref("AnalysisRunPage")),
)
def list_runs(query: dict[str, Any]) -> ResponseReturnValue:
    """Your own runs; output checkers and privacy officers every run."""
    statement = service.runs_visible_to(caller())
    if "status" in query:
        statement = statement.where(AnalysisRun.status == query["status"])
    page = paginate(
        db_session(),
        statement,
        default_sort="created",
        sorts={
            "created": AnalysisRun.created_at,
            "status": AnalysisRun.status,
            "id": AnalysisRun.id,
        },
    )
    return paged(page, summary)


@operation(
    "GET",
    "/analyses/<int:run_id>",
    tag=TAG,
    summary="One run, with its result",
    answer=Answer(200, "The run.", s.ref("AnalysisRun")),
)
def get_run(run_id: int) -> ResponseReturnValue:
    """The analyst who asked for it, output checkers and privacy officers; anyone else is
    answered as for a run that does not exist (404, recorded), as on the run page. The analyst reads
    the result only while the agreement is in force and they hold a current grant for the
    run's purpose; otherwise `result` is null, `figures_withheld` says why, and the refusal is
    recorded (the output's released files stay available under the output's rule)."""
    db = db_session()
    user = caller()
    found = service.visible_run(db, run_id, user)
    answer = render(found, service.figures_refused(db, found, user, utcnow()))
    db.commit()  # figures withheld are recorded
    return answer


@operation(
    "POST",
    "/analyses",
    tag=TAG,
    summary="Submit an analysis",
    body=s.obj(
        {
            "agreement_id": s.identifier("An active agreement naming you as personnel."),
            "kind": s.enum(
                AnalysisKind,
                description="One of the agreement's permitted "
                "uses; it is also the run's purpose, "
                "so every column read must be "
                "granted to you for it.",
            ),
            "datasets": s.obj(
                {
                    "records": s.identifier(),
                    "index_events": s.identifier(),
                    "offences": s.identifier(),
                },
                description="The dataset that holds each source table the "
                "kind reads (records and offences; "
                "index_events and offences for "
                "matched_comparison).",
            ),
            "parameters": PARAMETERS,
            "cohort_id": s.nullable(
                s.identifier(
                    "matched_comparison: a partner cohort file uploaded under the agreement."
                )
            ),
            "title": s.text(200),
        },
        required=("agreement_id", "kind", "datasets", "parameters"),
    ),
    errors=(403, 404),
    answer=Answer(201, "The queued run.", s.ref("AnalysisRun")),
)
def submit_run(body: dict[str, Any]) -> ResponseReturnValue:
    """Passes the scope gate (active agreement, permitted use, valid parameters, every column
    granted for the purpose) before anything is read; a refusal is recorded with the clause.
    The run is queued; follow it with `GET /analyses/{run_id}`."""
    db = db_session()
    run = service.submit_run(
        db,
        agreement_id=body["agreement_id"],
        kind=body["kind"],
        parameters=body["parameters"],
        datasets=body["datasets"],
        cohort_id=body.get("cohort_id"),
        title=body.get("title", ""),
        by=caller(),
        now=utcnow(),
    )
    db.commit()
    return render(run), 201


@operation(
    "GET",
    "/analyses/<int:run_id>/file",
    tag=TAG,
    summary="Download the files of the output a finished run became (PDF or CSV)",
    query=(Param("kind", s.enum(("pdf", "csv")), "Default: pdf."),),
    errors=(403,),
    answer=Answer(
        200,
        "The file.",
        media_types=("application/pdf", "text/csv"),
        headers={"X-Content-SHA256": "SHA-256 of the file, as recorded."},
    ),
)
def run_file(run_id: int, query: dict[str, Any]) -> ResponseReturnValue:
    """The PDF or CSV of the output the run became, under the output's rule
    (`GET /outputs/{output_id}/file`): checkers and privacy officers in every state, the
    project team once it is released and, after the agreement ended, only if it was released
    before. Recorded (`output:download`) before it is sent; a refusal is 403, recorded with
    its rule. 404 if the run has not succeeded, or to someone who may not see it (recorded)."""
    db = db_session()
    file = service.download(
        db, run_id=run_id, what=query.get("kind", "pdf"), by=caller(), now=utcnow()
    )
    db.commit()  # recorded before the first byte leaves
    return file_response(file)
