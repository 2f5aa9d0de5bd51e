"""Analysis pages (blueprint `analyses`): my runs, the run form, a run's progress and result.

Only disclosure-controlled figures are ever shown: a run page renders the stored released
result (tables with suppressed cells marked, the charts, the summary, the provenance), and to
the analyst only in the secure environment (the agreement in force, a current grant). The
report and CSV downloads are the files of the output the run became, under the output's rule;
each is recorded before it is sent.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from governance import authz
from governance.agreements.analysis_kind_model import AnalysisKind
from governance.analysis import cohorts
from governance.analysis import report as analysis_report
from governance.analysis import runs as analyses
from governance.analysis.models import AnalysisRun, RunStatus
from governance.analysis.web_forms import CohortForm, ScopeForm, parameters_from, run_form
from governance.audit.models import AuditType
from governance.authz import Permission
from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.outputs.files import may_download
from governance.outputs.web import file_response
from governance.web.forms import choices, submitted
from governance.web.paging import paginate

bp = Blueprint("analyses", __name__, url_prefix="/analyses")


@bp.route("/")
@login_required
def index() -> str:
    user = actor()
    status = request.args.get("status") or None
    query = analyses.runs_visible_to(user)
    if status in {s.value for s in RunStatus}:
        query = query.where(AnalysisRun.status == status)
    page = paginate(
        db_session(),
        query,
        default_sort="created",
        per_page=25,
        sorts={
            "created": AnalysisRun.created_at,
            "status": AnalysisRun.status,
            "id": AnalysisRun.id,
        },
    )
    return render_template(
        "analyses/index.html",
        page=page,
        status=status,
        statuses=list(RunStatus),
        oversees=analyses.oversees(user),
        can_run=authz.can(user, Permission.ANALYSIS_RUN),
    )


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> BaseResponse | str:
    user = actor()
    authz.require(user, Permission.ANALYSIS_RUN)
    db = db_session()
    mine = analyses.agreements_to_run_under(db, user)
    scope = ScopeForm(request.args, meta={"csrf": False})
    scope.agreement_id.choices = choices((a.id, f"{a.reference} · {v.title}") for a, v in mine)
    chosen = next(((a, v) for a, v in mine if a.id == scope.agreement_id.data), None)
    uses = chosen[1].permitted_uses if chosen else []
    scope.kind.choices = choices((use, AnalysisKind.label_of(use)) for use in uses)
    kind = scope.kind.data if scope.kind.data in uses else None
    if chosen is None or kind is None:
        return render_template("analyses/scope.html", scope=scope, agreements=mine)
    agreement, version = chosen
    form = run_form(kind)
    datasets = analyses.datasets_of(db, version)
    dataset_choices = choices((d.id, d.name) for d in datasets)
    for name in ("records_dataset", "index_events_dataset", "offences_dataset"):
        if name in form:
            form[name].choices = dataset_choices
    my_cohorts = cohorts.cohorts_for(db, agreement_id=agreement.id, by=user)
    if "cohort_id" in form:
        form.cohort_id.choices = choices(
            (c.id, f"{c.label} ({c.row_count:,} rows, {c.created_at:%Y-%m-%d})") for c in my_cohorts
        )
        if request.method == "GET" and request.args.get("cohort", "").isdigit():
            form.cohort_id.data = int(request.args["cohort"])
    if submitted(form):
        parameters, tables = parameters_from(form, kind)
        run = analyses.submit_run(
            db,
            agreement_id=agreement.id,
            kind=kind,
            parameters=parameters,
            datasets=tables,
            cohort_id=form.cohort_id.data if kind == "matched_comparison" and my_cohorts else None,
            title=form.title.data or "",
            by=user,
            now=utcnow(),
        )
        db.commit()
        flash("The analysis is queued; this page follows its progress.", "success")
        return redirect(url_for("analyses.run", run_id=run.id))
    return render_template(
        "analyses/new.html",
        form=form,
        cohort_form=CohortForm(),
        agreement=agreement,
        version=version,
        kind=kind,
        kind_label=AnalysisKind.label_of(kind),
        datasets=datasets,
        cohorts=my_cohorts,
    )


@bp.route("/cohorts", methods=["POST"])
@login_required
def upload_cohort() -> BaseResponse:
    user = actor()
    authz.require(user, Permission.ANALYSIS_RUN, audit={"event_type": AuditType.COHORT_UPLOAD})
    form = CohortForm()
    submitted(form)
    agreement_id = request.args.get("agreement", type=int) or 0
    db = db_session()
    cohort = cohorts.upload_cohort(
        db,
        agreement_id=agreement_id,
        data=form.file.data.read(),
        filename=form.file.data.filename or "cohort.csv",
        label=form.label.data or "",
        by=user,
        now=utcnow(),
    )
    db.commit()
    flash(f"The cohort file is stored encrypted ({cohort.row_count:,} rows).", "success")
    return redirect(
        url_for(
            "analyses.new", agreement_id=agreement_id, kind="matched_comparison", cohort=cohort.id
        )
    )


@bp.route("/<int:run_id>")
@login_required
def run(run_id: int) -> str:
    user = actor()
    db = db_session()
    found = analyses.visible_run(db, run_id, user)
    requester, agreement = analyses.run_parts(db, found)
    now = utcnow()
    withheld = analyses.figures_refused(db, found, user, now)
    context = None
    if (
        withheld is None
        and found.status == RunStatus.SUCCEEDED
        and found.result
        and found.provenance
    ):
        context = analysis_report.report_context(
            run=found,
            result=found.result,
            provenance=found.provenance,
            requester=requester.name if requester else "",
            limit=200,
        )
    output = analyses.output_of(db, found.id)
    conflicts = analyses.conflicts_seen_by(db, found, user)
    db.commit()  # figures withheld are recorded; a refused view by the error handler
    return render_template(
        "analyses/run.html",
        run=found,
        report=context,
        agreement=agreement,
        requester=requester,
        refresh=found.is_active,
        output=output,
        can_download=output is not None and may_download(user, output, now),
        withheld=withheld,
        kind_label=AnalysisKind.label_of(found.kind),
        conflicts=conflicts,
    )


@bp.route("/<int:run_id>/download/<what>")
@login_required
def download(run_id: int, what: str) -> Response:
    """The files of the output the run became, under the output's rule (as its own page)."""
    db = db_session()
    file = analyses.download(db, run_id=run_id, what=what, by=actor(), now=utcnow())
    db.commit()  # recorded before the first byte leaves
    return file_response(file)
