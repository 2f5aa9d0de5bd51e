"""Committee pages: administration (committees, members, rule, what each decides for) and
the case page members vote on. Views parse, call one service, commit and render."""

from __future__ import annotations

from flask import Blueprint, render_template
from werkzeug.wrappers import Response as BaseResponse
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from governance.access import data_use
from governance.access.models import ColumnForm
from governance.agreements.impact import Impact, ImpactChanged
from governance.committees import cases, impact, queries, service
from governance.committees.conditions import MAX_PREVIEW_DAYS
from governance.committees.models import DecisionRule, MemberRole, SubjectType, Vote
from governance.identity import users
from governance.identity.web_login import actor, login_required
from governance.kernel.extensions import db_session
from governance.kernel.types import utcnow
from governance.web.errors import record_refusal
from governance.web.forms import Form, choices, committed, submitted

bp = Blueprint("committees", __name__, url_prefix="/committees")

RULE_LABELS = {
    DecisionRule.ALL: "All members approve",
    DecisionRule.MAJORITY: "Majority",
    DecisionRule.QUORUM: "Quorum of N, then majority",
    DecisionRule.ANY_NO_BLOCKS: "Any rejection blocks",
}
VOTE_LABELS = {
    Vote.APPROVE: "Approve",
    Vote.APPROVE_WITH_CONDITIONS: "Approve with conditions",
    Vote.REJECT: "Reject",
    Vote.ABSTAIN: "Abstain",
}
ROLE_LABELS = {
    MemberRole.CHAIR: "Chair",
    MemberRole.MEMBER: "Member",
    MemberRole.OBSERVER: "Observer",
}
SUBJECT_LABELS = {
    SubjectType.AGREEMENT: "Agreement",
    SubjectType.DATASET: "Dataset",
    SubjectType.ORGANIZATION: "Organisation",
}
#: A requested column's form in a condition ("" keeps it as stored).
COLUMN_FORM_LABELS = {
    "": "As stored",
    ColumnForm.COARSENED: "Coarsened",
    ColumnForm.PSEUDONYMISED: "Pseudonymised",
}


class RuleForm(Form):
    rule = SelectField("Decision rule", choices=choices(RULE_LABELS.items()))
    quorum = IntegerField(
        "Quorum (members who must vote)", validators=[Optional(), NumberRange(1, 100)]
    )
    chair_casting_vote = BooleanField("The chair's vote decides a tie", default=True)
    decision_days = IntegerField("Days to decide", default=14, validators=[NumberRange(1, 365)])


class CommitteeForm(RuleForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    organization_id = SelectField("Organisation", coerce=int)


class MemberForm(Form):
    user_id = SelectField("Person", coerce=int)
    role = SelectField("Role", choices=choices(ROLE_LABELS.items()))


class AssignForm(Form):
    subject_type = SelectField("Decides for", choices=choices(SUBJECT_LABELS.items()))
    subject_id = IntegerField("Its number", validators=[DataRequired(), NumberRange(1)])


class VoteForm(Form):
    vote = SelectField("Your vote", choices=choices(VOTE_LABELS.items()))
    comment = TextAreaField("Comment", validators=[Length(max=4000)])
    columns = SelectMultipleField("Condition: narrow the columns to")
    end_date = DateField("Condition: access ends earlier, on", validators=[Optional()])
    no_download = BooleanField("Condition: no row-level download")
    # On an agreement version's approval: publication only after a partner preview this long.
    preview_days = IntegerField(
        "Condition: publication only after a partner preview of (days)",
        validators=[Optional(), NumberRange(1, MAX_PREVIEW_DAYS)],
    )
    # On an access request's case, one `form_<n>` field per requested column (`_vote_form`).
    requested: list[str] = []

    def column_form_fields(self) -> list[SelectField]:
        return [self[f"form_{n}"] for n in range(len(self.requested))]

    def column_forms(self) -> dict[str, str]:
        """The columns a condition grants coarsened or pseudonymised, with their form."""
        return {
            column: str(self[f"form_{n}"].data)
            for n, column in enumerate(self.requested)
            if self[f"form_{n}"].data
        }


class ReasonForm(Form):
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=4000)])


class AmendmentApprovalForm(Form):
    digest = HiddenField(validators=[DataRequired()])
    comment = TextAreaField("Approval comment", validators=[Length(max=5000)])


class DecideAloneForm(ReasonForm):
    decision = SelectField(
        "Decision", choices=choices([("approve", "Approve"), ("reject", "Reject")])
    )


@bp.route("/", methods=["GET", "POST"])
@login_required
def index() -> BaseResponse | str:
    db = db_session()
    service.require_manage_view(actor())
    form = CommitteeForm()
    form.organization_id.choices = choices((o.id, o.name) for o in users.organizations(db))
    if submitted(form):
        committee = service.create_committee(
            db,
            name=form.name.data or "",
            organization_id=form.organization_id.data or 0,
            rule=form.rule.data or "",
            quorum=form.quorum.data,
            chair_casting_vote=bool(form.chair_casting_vote.data),
            decision_days=form.decision_days.data or 14,
            by=actor(),
            now=utcnow(),
        )
        return committed(
            "The committee is created.", "committees.detail", committee_id=committee.id
        )
    return render_template(
        "committees/index.html",
        committees=service.list_committees(db),
        form=form,
        rules=RULE_LABELS,
    )


def _detail_forms(committee_id: int) -> dict[str, Form]:
    db = db_session()
    committee = service.get_committee(db, committee_id)
    member = MemberForm(prefix="member")
    member.user_id.choices = choices((u.id, u.email) for u in service.people(db))
    rule = RuleForm(prefix="rule", obj=committee)
    return {"member": member, "rule": rule, "assign": AssignForm(prefix="assign")}


@bp.route("/<int:committee_id>")
@login_required
def detail(committee_id: int) -> str:
    db = db_session()
    service.require_manage_view(actor())
    committee = service.get_committee(db, committee_id)
    return render_template(
        "committees/detail.html",
        committee=committee,
        forms=_detail_forms(committee_id),
        names=service.names(db, [m.user_id for m in committee.members]),
        assignments=service.assignments_of(db, committee_id),
        open_cases=queries.open_cases(db, committee),
        rule=queries.rule_words(committee),
        roles=ROLE_LABELS,
        subjects=SUBJECT_LABELS,
    )


@bp.route("/<int:committee_id>/members", methods=["POST"])
@login_required
def add_member(committee_id: int) -> BaseResponse:
    form = _detail_forms(committee_id)["member"]
    submitted(form)
    service.add_member(
        db_session(),
        committee_id=committee_id,
        user_id=form.user_id.data or 0,
        role=form.role.data or "",
        by=actor(),
        now=utcnow(),
    )
    return committed("The member is added.", "committees.detail", committee_id=committee_id)


@bp.route("/<int:committee_id>/members/<int:user_id>/remove", methods=["POST"])
@login_required
def remove_member(committee_id: int, user_id: int) -> BaseResponse:
    service.remove_member(
        db_session(), committee_id=committee_id, user_id=user_id, by=actor(), now=utcnow()
    )
    return committed("The member is removed.", "committees.detail", committee_id=committee_id)


@bp.route("/<int:committee_id>/rule", methods=["POST"])
@login_required
def set_rule(committee_id: int) -> BaseResponse:
    form = _detail_forms(committee_id)["rule"]
    submitted(form)
    service.set_rule(
        db_session(),
        committee_id=committee_id,
        rule=form.rule.data or "",
        quorum=form.quorum.data,
        chair_casting_vote=bool(form.chair_casting_vote.data),
        decision_days=form.decision_days.data or 14,
        by=actor(),
        now=utcnow(),
    )
    return committed("The decision rule is set.", "committees.detail", committee_id=committee_id)


@bp.route("/<int:committee_id>/assign", methods=["POST"])
@login_required
def assign(committee_id: int) -> BaseResponse:
    form = _detail_forms(committee_id)["assign"]
    submitted(form)
    service.assign(
        db_session(),
        committee_id=committee_id,
        subject_type=form.subject_type.data or "",
        subject_id=form.subject_id.data or 0,
        by=actor(),
        now=utcnow(),
    )
    return committed(
        "The committee now decides for it.", "committees.detail", committee_id=committee_id
    )


def _vote_form(view: queries.CaseView) -> VoteForm:
    requested = list(view.request.requested_columns) if view.request is not None else []
    # Fields are numbered, not named after the columns: a column's name need not be a valid
    # field name.
    per_column = {
        f"form_{n}": SelectField(
            f"Condition: {column} granted",
            choices=choices(COLUMN_FORM_LABELS.items()),
            default="",
        )
        for n, column in enumerate(requested)
    }
    form_class = type("CaseVoteForm", (VoteForm,), {**per_column, "requested": requested})
    form: VoteForm = form_class(prefix="vote")
    form.columns.choices = choices((c, c) for c in requested)
    return form


@bp.route("/cases/<int:case_id>")
@login_required
def case_page(case_id: int) -> str:
    view = queries.case_view(db_session(), case_id=case_id, by=actor())
    return render_template(
        "committees/case.html",
        view=view,
        **data_use.review_context(db_session(), view.request),
        vote_form=_vote_form(view),
        recuse_form=ReasonForm(prefix="recuse"),
        alone_form=DecideAloneForm(prefix="alone"),
        vote_labels=VOTE_LABELS,
        roles=ROLE_LABELS,
        past_deadline=utcnow() >= view.case.deadline,
    )


@bp.route("/cases/<int:case_id>/vote", methods=["POST"])
@login_required
def vote(case_id: int) -> BaseResponse:
    view = queries.case_view(db_session(), case_id=case_id, by=actor())
    form = _vote_form(view)
    submitted(form)
    conditions: dict[str, object] = {}
    if form.vote.data == Vote.APPROVE_WITH_CONDITIONS:
        conditions = {
            "end_date": form.end_date.data.isoformat() if form.end_date.data else None,
            "no_download": bool(form.no_download.data),
        }
        if view.request is not None:
            conditions.update(columns=form.columns.data or [], forms=form.column_forms())
        else:
            conditions["preview_days"] = form.preview_days.data
    cases.cast_vote(
        db_session(),
        case_id=case_id,
        vote=form.vote.data or "",
        comment=form.comment.data or "",
        conditions=conditions,
        by=actor(),
        now=utcnow(),
    )
    return committed("Your vote is recorded.", "committees.case_page", case_id=case_id)


@bp.route("/cases/<int:case_id>/recuse", methods=["POST"])
@login_required
def recuse(case_id: int) -> BaseResponse:
    form = ReasonForm(prefix="recuse")
    submitted(form)
    cases.recuse(
        db_session(), case_id=case_id, reason=form.reason.data or "", by=actor(), now=utcnow()
    )
    return committed(
        "Your conflict of interest is recorded.", "committees.case_page", case_id=case_id
    )


@bp.route("/cases/<int:case_id>/decide", methods=["POST"])
@login_required
def decide_alone(case_id: int) -> BaseResponse:
    form = DecideAloneForm(prefix="alone")
    submitted(form)
    cases.decide_alone(
        db_session(),
        case_id=case_id,
        approve=form.decision.data == "approve",
        reason=form.reason.data or "",
        by=actor(),
        now=utcnow(),
    )
    return committed("The decision is recorded.", "committees.case_page", case_id=case_id)


@bp.route("/amendments/<int:agreement_id>")
@login_required
def amendment_impact(agreement_id: int) -> str:
    shown = impact.amendment_impact(db_session(), agreement_id=agreement_id, by=actor())
    return _impact_page(shown, AmendmentApprovalForm(prefix="approve"))


def _impact_page(shown: Impact, form: AmendmentApprovalForm, *, changed: bool = False) -> str:
    # The form approves the impact this page shows, whatever an earlier form sent.
    form.digest.data = shown.digest
    return render_template(
        "committees/impact.html", impact=shown, form=form, impact_changed=changed
    )


@bp.route("/amendments/<int:agreement_id>/approve", methods=["POST"])
@login_required
def approve_amendment(agreement_id: int) -> BaseResponse | tuple[str, int]:
    form = AmendmentApprovalForm(prefix="approve")
    submitted(form)
    try:
        impact.approve_amendment(
            db_session(),
            agreement_id=agreement_id,
            digest=form.digest.data or "",
            comment=form.comment.data or "",
            by=actor(),
            now=utcnow(),
        )
    except ImpactChanged as changed:
        # The approver agrees only to what they saw: the page is drawn again with the impact
        # as it is now (the one the refusal carries) and the comment as typed.
        record_refusal(changed)
        return _impact_page(changed.impact, form, changed=True), 409
    return committed(
        "The amendment is approved, with the impact shown.",
        "agreements.detail",
        agreement_id=agreement_id,
    )
