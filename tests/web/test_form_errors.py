"""Every form, sent with a mistake, comes back on its own page: the mistake beside its field,
what was typed kept, status 422; never the standalone error page.

One demo world per database; each case logs in as the person who uses the form, opens its
page and posts it from there (with the page as Referer, as a browser does). The last test
lists every form class of the app: a new form needs a case here (or a stated reason).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.access.models import AccessRequest, Grant
from governance.agreements.models import Agreement
from governance.datasets.models import Dataset
from governance.demo import DEMO_PASSWORD, load_demo
from governance.identity.models import User
from governance.kernel.types import utcnow
from governance.outputs import preview
from governance.outputs.models import Output, OutputFlag, OutputStatus
from governance.web.forms import Form
from tests.conftest import Browser, csrf_token
from tests.support import PASSWORD, People


@dataclass(frozen=True)
class Case:
    form: str  # the form class, as package.Class (access.CommentForm)
    who: str  # the demo e-mail of the person who uses it
    page: Callable[[Session], str]  # where the form is shown
    action: Callable[[Session], str]  # where it posts
    data: dict[str, Any]  # a mistake, and something typed to keep
    error: str  # shown beside the field
    kept: str | None  # what was typed, shown again (None: a password, never echoed)


def _agreement(db: Session, reference: str = "DUA-2026-001") -> Agreement:
    return db.scalars(select(Agreement).where(Agreement.reference == reference)).one()


def _user(db: Session, email: str) -> User:
    return db.scalars(select(User).where(User.email == email)).one()


def _waiting_request(db: Session) -> AccessRequest:
    return db.scalars(
        select(AccessRequest).where(AccessRequest.status == "submitted").order_by(AccessRequest.id)
    ).first()  # type: ignore[return-value]


def _grant(db: Session) -> Grant:
    return db.scalars(select(Grant).where(Grant.status == "active").order_by(Grant.id)).first()  # type: ignore[return-value]


def _in_preview(db: Session) -> Output:
    return db.scalars(select(Output).where(Output.status == OutputStatus.IN_PREVIEW)).one()


def _flag(db: Session) -> OutputFlag:
    """A flag waiting for the analyst's answer on the output in preview (raised once, by the
    provider's partner reviewer, through the service)."""
    output = _in_preview(db)
    found = db.scalars(select(OutputFlag).where(OutputFlag.output_id == output.id)).first()
    if found is None:
        db.rollback()  # end this session's read so that SQLite lets it write
        found = preview.raise_flag(
            db,
            output_id=output.id,
            kind="factual_error",
            part=output.parts[0]["id"],
            comment="The count for 2025 looks wrong.",
            by=_user(db, "reviewer@police.example"),
            now=utcnow(),
        )
        db.commit()
    return found


def _dataset(db: Session) -> Dataset:
    return db.scalars(select(Dataset).order_by(Dataset.id)).first()  # type: ignore[return-value]


def _new_request_page(db: Session) -> str:
    agreement = _agreement(db)
    dataset = next(
        d for d in db.scalars(select(Dataset).order_by(Dataset.id)) if d.name == "Index events"
    )
    return f"/access/requests/new?agreement_id={agreement.id}&dataset_id={dataset.id}"


def _agreement_in(db: Session, status: str) -> Agreement:
    return db.scalars(
        select(Agreement).where(Agreement.status == status).order_by(Agreement.id)
    ).first()  # type: ignore[return-value]


def _request_in(db: Session, status: str) -> AccessRequest:
    return db.scalars(
        select(AccessRequest).where(AccessRequest.status == status).order_by(AccessRequest.id)
    ).first()  # type: ignore[return-value]


def _produced(db: Session) -> Output:
    return db.scalars(select(Output).where(Output.status == OutputStatus.PRODUCED)).one()


def _fixed(path: str) -> Callable[[Session], str]:
    return lambda db: path


TYPED = "Typed and kept: 7 words of context"
TOO_LONG = "x" * 5001
REQUIRED = "This field is required."

CASES = [
    Case(
        "committees.CommitteeForm",
        "admin@lab.example",
        _fixed("/committees/"),
        _fixed("/committees/"),
        {"name": "", "rule": "majority", "decision_days": "21"},
        REQUIRED,
        'value="21"',
    ),
    Case(
        "identity.UserForm",
        "admin@lab.example",
        _fixed("/admin/users/new"),
        _fixed("/admin/users/new"),
        {"email": "kept.person@lab.example", "name": "", "password": "p"},
        REQUIRED,
        "kept.person@lab.example",
    ),
    Case(
        "identity.EditUserForm",
        "admin@lab.example",
        lambda db: f"/admin/users/{_user(db, 'analyst@lab.example').id}",
        lambda db: f"/admin/users/{_user(db, 'analyst@lab.example').id}",
        {"edit-name": "", "edit-roles": "analyst"},
        REQUIRED,
        None,
    ),
    Case(
        "identity.TrainingForm",
        "admin@lab.example",
        lambda db: f"/admin/users/{_user(db, 'analyst@lab.example').id}",
        lambda db: f"/admin/users/{_user(db, 'analyst@lab.example').id}/training",
        {"training-course": "privacy_security", "training-completed_on": "2026-01-02"},
        REQUIRED,
        'value="2026-01-02"',
    ),
    Case(
        "identity.OrganizationForm",
        "admin@lab.example",
        _fixed("/admin/organizations"),
        _fixed("/admin/organizations"),
        {"name": "", "kind": "provider"},
        REQUIRED,
        None,
    ),
    Case(
        "identity.TokenForm",
        "analyst@lab.example",
        _fixed("/tokens/"),
        _fixed("/tokens/"),
        {"name": "", "days": "17"},
        REQUIRED,
        'value="17"',
    ),
    Case(
        "identity.ChangePasswordForm",
        "analyst@lab.example",
        _fixed("/account/"),
        _fixed("/account/password"),
        {"change-current_password": "", "change-new_password": "x", "change-confirm_password": "x"},
        REQUIRED,
        None,
    ),
    Case(
        "agreements.NewAgreementForm",
        "privacy@lab.example",
        _fixed("/agreements/new"),
        _fixed("/agreements/new"),
        {"title": "", "purpose": TYPED},
        REQUIRED,
        TYPED,
    ),
    Case(
        "agreements.StateLawForm",
        "privacy@lab.example",
        _fixed("/agreements/laws"),
        _fixed("/agreements/laws"),
        {"name": "", "requirements": TYPED},
        REQUIRED,
        TYPED,
    ),
    Case(
        "incidents.ReportForm",
        "analyst@lab.example",
        _fixed("/incidents/"),
        _fixed("/incidents/"),
        {"kind": "unauthorised_access", "description": TYPED},
        REQUIRED,
        TYPED,
    ),
    Case(
        "access.RequestForm",
        "analyst@lab.example",
        _new_request_page,
        _new_request_page,
        {"purpose": "descriptive", "justification": TYPED, "end_date": "2026-12-30"},
        REQUIRED,
        TYPED,
    ),
    Case(
        "access.ApproveForm",
        "steward@lab.example",
        lambda db: f"/access/requests/{_waiting_request(db).id}",
        lambda db: f"/access/requests/{_waiting_request(db).id}/approve",
        {"approve-comment": TYPED},
        REQUIRED,
        TYPED,
    ),
    Case(
        "access.ReasonForm",
        "steward@lab.example",
        lambda db: f"/access/requests/{_waiting_request(db).id}",
        lambda db: f"/access/requests/{_waiting_request(db).id}/deny",
        {"deny-reason": ""},
        REQUIRED,
        None,
    ),
    Case(
        "access.GrantReviewForm",
        "steward@lab.example",
        lambda db: f"/access/grants/{_grant(db).id}",
        lambda db: f"/access/grants/{_grant(db).id}/review",
        {"review-comment": TOO_LONG},
        "Field cannot be longer than 4000 characters.",
        None,
    ),
    Case(
        "outputs.FlagForm",
        "reviewer@police.example",
        lambda db: f"/outputs/{_in_preview(db).id}",
        lambda db: f"/outputs/{_in_preview(db).id}/flags",
        {"kind": "factual_error", "part": "", "comment": TYPED},
        "Choose a part of this output.",
        TYPED,
    ),
    Case(
        "outputs.NoConcernsForm",
        "reviewer@police.example",
        lambda db: f"/outputs/{_in_preview(db).id}",
        lambda db: f"/outputs/{_in_preview(db).id}/no-concerns",
        {"no_concerns-note": "kept " + "y" * 2001},
        "Field cannot be longer than 2000 characters.",
        "kept yyyy",
    ),
    Case(
        "agreements.TermsForm",
        "privacy@lab.example",
        lambda db: f"/agreements/{_agreement_in(db, 'draft').id}/edit",
        lambda db: f"/agreements/{_agreement_in(db, 'draft').id}/edit",
        {"title": "", "purpose": TYPED},
        REQUIRED,
        TYPED,
    ),
    Case(
        "access.CommentForm",
        "privacy@lab.example",
        lambda db: f"/access/requests/{_request_in(db, 'awaiting_privacy_officer').id}",
        lambda db: (
            f"/access/requests/{_request_in(db, 'awaiting_privacy_officer').id}/approve-identifiers"
        ),
        {"second-comment": "kept " + "z" * 4001},
        "Field cannot be longer than 4000 characters.",
        None,
    ),
    Case(
        "analysis.RunForm",
        "analyst@lab.example",
        lambda db: f"/analyses/new?agreement_id={_agreement(db).id}&kind=descriptive",
        lambda db: f"/analyses/new?agreement_id={_agreement(db).id}&kind=descriptive",
        {"title": "kept " + "t" * 200, "group_by": "sex"},
        "Field cannot be longer than 200 characters.",
        "kept tttt",
    ),
    Case(
        "outputs.CorrectForm",
        "analyst@lab.example",
        lambda db: f"/outputs/{_in_preview(db).id}/correct",
        lambda db: f"/outputs/{_in_preview(db).id}/correct",
        {"summary": "kept " + "s" * 10000},
        "Field cannot be longer than 10000 characters.",
        "kept ssss",
    ),
    Case(
        "datasets.EditSchemaForm",
        "steward@lab.example",
        lambda db: f"/datasets/{_dataset(db).id}/schema",
        lambda db: f"/datasets/{_dataset(db).id}/schema",
        {"description": "kept " + "d" * 5000},
        "Field cannot be longer than 5000 characters.",
        "kept dddd",
    ),
    Case(
        "datasets.DataUseForm",
        "steward@lab.example",
        lambda db: f"/datasets/{_dataset(db).id}",
        lambda db: f"/datasets/{_dataset(db).id}/data-use",
        {"permission": "DUO:0000042", "modifiers": ["DUO:0000025"], "modifier_ts": "kept soon"},
        "Give a number of months.",
        "kept soon",
    ),
    Case(
        "datasets.DeclareForm",
        "steward@lab.example",
        _fixed("/datasets/new"),
        _fixed("/datasets/new"),
        {"name": "", "description": TYPED},
        REQUIRED,
        TYPED,
    ),
    Case(
        "agreements.ReasonForm",
        "privacy@lab.example",
        lambda db: f"/agreements/{_agreement(db).id}",
        lambda db: f"/agreements/{_agreement(db).id}/terminate",
        {"reason": TYPED + "x" * 5001},
        "Field cannot be longer than 5000 characters.",
        TYPED,
    ),
    Case(
        "agreements.CommentForm",
        "privacy2@lab.example",
        lambda db: f"/agreements/{_agreement_in(db, 'submitted').id}",
        lambda db: f"/agreements/{_agreement_in(db, 'submitted').id}/return",
        {"comment": TYPED + "x" * 5001},
        "Field cannot be longer than 5000 characters.",
        TYPED,
    ),
    Case(
        "agreements.DestructionForm",
        "privacy@lab.example",
        lambda db: f"/agreements/{_agreement(db, 'DUA-2025-001').id}",
        lambda db: f"/agreements/{_agreement(db, 'DUA-2025-001').id}/certify-destruction",
        {"statement": TYPED + "x" * 5001},
        "Field cannot be longer than 5000 characters.",
        TYPED,
    ),
    Case(
        "outputs.CheckForm",
        "checker@lab.example",
        lambda db: f"/outputs/{_produced(db).id}",
        lambda db: f"/outputs/{_produced(db).id}/check",
        {"decision": "approve", "reasons": TYPED + "x" * 5001},
        "Field cannot be longer than 5000 characters.",
        TYPED,
    ),
    Case(
        "compliance.PeriodForm",
        "compliance@lab.example",
        _fixed("/compliance/"),
        _fixed("/compliance/"),
        {"name": TYPED, "starts_on": "", "ends_on": ""},
        REQUIRED,
        TYPED,
    ),
    Case(
        "identity.MappingForm",
        "admin@lab.example",
        _fixed("/admin/identity/groups"),
        _fixed("/admin/identity/groups"),
        {"mapping-source": "", "mapping-external_group": TYPED, "mapping-role": ""},
        REQUIRED,
        TYPED,
    ),
    Case(
        "webhooks.EndpointForm",
        "admin@lab.example",
        _fixed("/webhooks/"),
        _fixed("/webhooks/"),
        {"url": "", "description": TYPED, "event_types": "org.governance.grant.started"},
        REQUIRED,
        TYPED,
    ),
    Case(
        "identity.ScimTokenForm",
        "admin@lab.example",
        _fixed("/admin/identity/scim-tokens"),
        _fixed("/admin/identity/scim-tokens"),
        {"scim-name": "", "scim-days": "90"},
        REQUIRED,
        None,
    ),
    Case(
        "agreements.ExecutionForm",
        "privacy@lab.example",
        lambda db: f"/agreements/{_agreement_in(db, 'approved').id}",
        lambda db: f"/agreements/{_agreement_in(db, 'approved').id}/execute",
        {"name": TYPED, "title": "x" * 201},
        "Field cannot be longer than 200 characters.",
        None,
    ),
    Case(
        "analysis.CohortForm",
        "analyst@lab.example",
        lambda db: f"/analyses/new?agreement_id={_agreement(db).id}&kind=matched_comparison",
        lambda db: f"/analyses/cohorts?agreement={_agreement(db).id}",
        {"label": TYPED},
        REQUIRED,
        TYPED,
    ),
    Case(
        "reminders.DigestForm",
        "analyst@lab.example",
        _fixed("/account/mail"),
        _fixed("/account/mail"),
        {"mail-digest": "hourly"},
        "Not a valid choice.",
        None,
    ),
    # Last: the flag it answers ends the reviewer's no-concerns choice above.
    Case(
        "outputs.AnswerForm",
        "analyst@lab.example",
        lambda db: f"/outputs/{_flag(db).output_id}",
        lambda db: f"/outputs/{_flag(db).output_id}/flags/{_flag(db).id}/answer",
        {"answer": "explained", "text": TYPED + "x" * 5001},
        "Field cannot be longer than 5000 characters.",
        TYPED,
    ),
]


# Forms not yet driven here, each with the reason; a form in neither list fails the last test.
NOT_DRIVEN = {
    # The demo world has no committee: these are shown again on their pages in
    # tests/committees/test_committee_pages.py.
    "committees.RuleForm": "no demo committee",
    "committees.MemberForm": "no demo committee",
    "committees.AssignForm": "no demo committee",
    "committees.VoteForm": "no demo committee case",
    "committees.ReasonForm": "no demo committee case",
    "committees.DecideAloneForm": "no demo committee case",
    "committees.AmendmentApprovalForm": "no demo amendment waits for approval; a hidden digest "
    "and an optional comment (tests/committees/test_amendment_impact.py)",
    "identity.LoginForm": "the sign-in page answers a wrong login itself (tests/identity)",
    "access.ScopeForm": "a GET choice of agreement and dataset; a bad choice shows the same step",
    "analysis.ScopeForm": "a GET choice of agreement and kind; a bad choice shows the same step",
    "datasets.SchemaForm": "the base of DeclareForm and EditSchemaForm, never shown itself",
    # Not yet driven: the demo world has no object in the state the form needs. Each is shown
    # again on its page by the same mechanism (web/forms.py); a case needs that state built.
    "access.AcceptForm": "no demo agreement asks its personnel to accept the terms",
    "access.AttestForm": "no demo attestation is due",
    "access.EthicsForm": "no demo agreement requires an ethics approval",
    "identity.NewPasswordForm": "needs a reset link's secret",
    "identity.RejectForm": "no demo role change waits for approval",
    "incidents.CloseForm": "no demo incident is open",
    "outputs.ResolveForm": "no demo flag waits for a privacy officer's resolution",
    "outputs.ProgressForm": "no demo progress report is due",
    "outputs.DecisionForm": "no demo progress report waits for a decision",
    "datasets.DecisionForm": "no demo reclassification waits for a decision",
    "analysis.ReviewDecisionForm": "no demo run is linked probabilistically (a Splink run takes "
    "tens of seconds); tests/analysis/test_probabilistic_linkage_runs.py tests its refusals",
    "datasets.StewardForm": "every eligible demo steward already stewards (no form is shown)",
    "agreements.AttachmentForm": "a file upload: its refusals (size, type, content) and that "
    "nothing is kept are tested in tests/agreements/test_attachments.py",
    "compliance.CampaignForm": "the demo's audit period already runs its campaign",
    "compliance.DecisionForm": "one form per item, prefixed by its id; refusals are tested in "
    "tests/compliance/test_certification.py",
    "identity.CodeForm": "the second step of sign-in answers a wrong code itself "
    "(tests/identity/test_totp.py)",
    "identity.ReauthenticateForm": "answers a wrong password itself, like the sign-in page "
    "(tests/identity/test_session_limits.py)",
}


def test_each_form_comes_back_with_its_errors_and_what_was_typed(app: Flask, db: Session) -> None:
    load_demo(db, app=app, people=2000)
    db.commit()
    failures = []
    for case in CASES:
        client = app.test_client()
        _login(client, case.who)
        page = case.page(db)
        action = case.action(db)
        shown = client.get(page)
        assert shown.status_code == 200, f"{case.form}: {page} answered {shown.status_code}"
        answer = client.post(
            action,
            data={**case.data, "csrf_token": csrf_token(client, page)},
            headers={"Referer": f"http://localhost{page}"},
        )
        body = answer.get_data(as_text=True)
        problems = []
        if answer.status_code != 422:
            problems.append(f"status {answer.status_code}")
        if "error-page" in body:
            problems.append("the standalone error page")
        posts_here = f'action="{html.escape(action)}"' in body or f'action="{action}"' in body
        if page == action:  # the page's own form posts to the page's address
            posts_here = posts_here or re.search(r'<form method="post"(?![^>]*action=)', body)
        if not posts_here:
            problems.append(f"no form posting to {action} on the page")
        if html.escape(case.error, quote=False) not in body:
            problems.append(f"no error {case.error!r}")
        if case.kept and case.kept not in html.unescape(body):
            problems.append(f"lost what was typed ({case.kept[:30]!r})")
        if problems:
            failures.append(f"{case.form} ({action}): {', '.join(problems)}")
    assert failures == [], "\n".join(failures)


def _login(client: FlaskClient, email: str) -> None:
    answer = client.post(
        "/login",
        data={"email": email, "password": DEMO_PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert answer.status_code == 302, f"{email} could not log in"


def test_every_form_has_a_case() -> None:
    """A new form class needs a case above (or a reason in NOT_DRIVEN)."""
    import governance.registry  # noqa: F401  (imports every blueprint and its forms)

    found = {f"{cls.__module__.split('.')[1]}.{cls.__name__}" for cls in _subclasses(Form)}
    covered = {c.form for c in CASES} | set(NOT_DRIVEN)
    assert sorted(found - covered) == [], "forms without a case in tests/web/test_form_errors.py"


def _subclasses(cls: type) -> set[type]:
    result = set()
    for sub in cls.__subclasses__():
        result |= {sub} | _subclasses(sub)
    return result


def test_a_refused_form_whose_page_cannot_be_shown_gets_the_plain_refusal(
    browser: Browser, people: People
) -> None:
    """A forged post naming a person who does not exist: the page it claims to come from
    refuses (404), so the plain 422 page answers; never a server error."""
    browser.login(people.admin.email, PASSWORD)
    answer = browser.post(
        "/admin/users/999999/training",
        {"training-course": "privacy_security"},
        headers={"Referer": "http://localhost/admin/users/999999"},
    )
    assert answer.status_code == 422
    assert "error-page" in answer.get_data(as_text=True)
    assert "This field is required." in answer.get_data(as_text=True)


def test_a_referer_of_another_site_is_not_followed(browser: Browser, people: People) -> None:
    browser.login(people.admin.email, PASSWORD)
    answer = browser.post(
        f"/admin/users/{people.analyst.id}/training",
        {"training-course": "privacy_security"},
        headers={"Referer": f"http://evil.example/admin/users/{people.analyst.id}"},
    )
    assert answer.status_code == 422
    assert "error-page" in answer.get_data(as_text=True), "only this site's pages are shown"
