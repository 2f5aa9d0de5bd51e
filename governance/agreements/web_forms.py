"""The forms of the agreement pages, and turning a posted form into `TermsInput`.

Covered columns arrive as checkboxes named `columns` with values `DATASET_ID:COLUMN`; personnel
as selects named `personnel-USER_ID` whose value is the project role (empty: not on the
project); signatories one per line as `name | title`.
"""

from __future__ import annotations

from typing import Any

from flask import request
from wtforms import (
    BooleanField,
    DateField,
    FloatField,
    HiddenField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from governance.agreements.analysis_kind_model import AnalysisKind
from governance.agreements.models import (
    DEFAULT_DESTRUCTION_DAYS,
    DEFAULT_DOMINANCE_THRESHOLD,
    DEFAULT_MAX_ABS_SMD,
    DEFAULT_MIN_AGE,
    DEFAULT_MIN_CELL_SIZE,
    DEFAULT_MIN_COHORT_SIZE,
    DEFAULT_MIN_LINK_PROBABILITY,
    DEFAULT_PREVIEW_WINDOW_DAYS,
)
from governance.agreements.terms import Signatory, TermsInput
from governance.kernel.errors import ValidationFailed
from governance.kernel.text import whole_number
from governance.web.forms import Form, choices


class CheckboxesField(SelectMultipleField):  # type: ignore[misc]
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TermsForm(Form):
    title = StringField("Project title", validators=[DataRequired(), Length(max=200)])
    purpose = TextAreaField("Purpose", validators=[DataRequired(), Length(max=10000)])
    permitted_uses = CheckboxesField(
        "Permitted uses",
        choices=choices((k.value, k.label) for k in AnalysisKind),
        validate_choice=False,
    )
    laws = CheckboxesField("Laws and policies that apply", validate_choice=False)
    legal_bases = TextAreaField(
        "Legal basis under each law, one line per law as "
        '"code: basis" (for example hipaa: IRB waiver of authorisation)'
    )
    provider_signatories = TextAreaField("Signatories for the provider")
    recipient_signatories = TextAreaField("Signatories for the recipient")
    research_products_owner = SelectField(
        "Research products are owned by",
        choices=choices(
            [
                ("recipient", "The recipient (default)"),
                ("provider", "The provider"),
                ("joint", "Both, jointly"),
            ]
        ),
        validate_choice=False,
    )
    third_party_recipients = TextAreaField("Third parties the data may be shared with")
    publication_allowed = BooleanField("The recipient may publish aggregate findings", default=True)
    min_cell_size = IntegerField(
        "Minimum cell size", default=DEFAULT_MIN_CELL_SIZE, validators=[InputRequired()]
    )
    min_cohort_size = IntegerField(
        "Minimum cohort size for matched comparisons",
        default=DEFAULT_MIN_COHORT_SIZE,
        validators=[InputRequired()],
    )
    dominance_threshold = FloatField(
        "Dominance threshold", default=DEFAULT_DOMINANCE_THRESHOLD, validators=[InputRequired()]
    )
    rounding_base = SelectField(
        "Rounding of published counts",
        choices=choices([("", "No rounding"), ("5", "Round to base 5")]),
        validate_choice=False,
    )
    protection_width = IntegerField(
        "Protection interval of suppressed counts (people)", validators=[Optional()]
    )
    max_abs_smd = FloatField(
        "Most imbalance a matched comparison may release outcomes with (max |SMD| after matching)",
        default=DEFAULT_MAX_ABS_SMD,
        validators=[Optional()],
    )
    min_link_probability = FloatField(
        "Lowest match probability at which probabilistic linkage accepts a pair",
        default=DEFAULT_MIN_LINK_PROBABILITY,
        validators=[Optional()],
    )
    two_checkers_required = BooleanField("Two independent output checkers", default=True)
    preview_window_days = IntegerField(
        "Partner preview window (days)",
        default=DEFAULT_PREVIEW_WINDOW_DAYS,
        validators=[InputRequired()],
    )
    row_level_download = BooleanField("Named personnel may download row-level data", default=False)
    min_age = IntegerField(
        "Minimum age of people analysed", default=DEFAULT_MIN_AGE, validators=[Optional()]
    )
    excluded_offence_categories = TextAreaField(
        "Offence categories excluded from every analysis (grant holders still see the rows)"
    )
    withheld_offence_categories = TextAreaField(
        "Offence categories withheld from every reader (never shown, exported or analysed)"
    )
    destruction_days = IntegerField(
        "Destroy data within (days of the agreement's end)",
        default=DEFAULT_DESTRUCTION_DAYS,
        validators=[InputRequired()],
    )
    acceptance_required = BooleanField(
        "Each person accepts the terms that bind them personally before reading data", default=False
    )
    attestation_months = IntegerField("Each person attests every (months)", validators=[Optional()])
    ethics_required = BooleanField("Reads need an ethics approval in force", default=False)
    provider_notice_hours = IntegerField(
        "Tell the provider of an incident within (hours)", validators=[Optional()]
    )
    progress_months = IntegerField("Progress reports every (months)", validators=[Optional()])
    max_unique_share = FloatField(
        "Share of records unique above which a privacy officer approves too",
        validators=[Optional()],
    )
    derived_forms = SelectField(
        "Columns may be granted coarsened or pseudonymised",
        choices=choices(
            [
                ("none", "Neither: every column as stored (default)"),
                ("coarsened", "Coarsened only"),
                ("pseudonymised", "Pseudonymised only"),
                ("both", "Coarsened or pseudonymised"),
            ]
        ),
        default="none",
    )
    public_register = BooleanField(
        "The parties allow this agreement on the public data-use register", default=False
    )
    lay_summary = TextAreaField("Lay summary for the public register", validators=[Optional()])
    effective_date = DateField("Effective date", validators=[InputRequired()])
    expiry_date = DateField("Expiry date (last day in force)", validators=[InputRequired()])


class NewAgreementForm(TermsForm):
    provider_id = SelectField("Data provider", coerce=int, validate_choice=False)
    recipient_id = SelectField("Recipient organisation", coerce=int, validate_choice=False)


class CommentForm(Form):
    comment = TextAreaField("Comment", validators=[Length(max=5000)])


class ReasonForm(Form):
    reason = TextAreaField("Reason", validators=[Length(max=5000)])


class DestructionForm(Form):
    statement = TextAreaField("Destruction statement", validators=[Length(max=5000)])


class ExecutionForm(Form):
    """The provider's countersignature, as its signed copy states it."""

    name = StringField("Provider's signatory", validators=[Length(max=200)])
    title = StringField("Their title", validators=[Length(max=200)])
    organisation = StringField("Their organisation", validators=[Length(max=200)])
    signed_on = DateField("Date signed", validators=[Optional()])
    signed_copy_reference = StringField(
        "Reference of the signed copy", validators=[Length(max=200)]
    )
    # An amendment's impact as the form showed it: what the officer confirms takes effect.
    impact_digest = HiddenField(validators=[Length(max=64)])


class StateLawForm(Form):
    name = StringField("Name of the state law", validators=[DataRequired(), Length(max=200)])
    requirements = TextAreaField(
        "Handling requirements", validators=[DataRequired(), Length(max=5000)]
    )


def _signatories(party: str, raw: str | None) -> list[Signatory]:
    result = []
    for line in (raw or "").splitlines():
        name, _bar, title = line.partition("|")
        if name.strip():
            result.append(Signatory(party=party, name=name.strip(), title=title.strip()))
    return result


def posted_columns() -> dict[int, list[str]]:
    columns: dict[int, list[str]] = {}
    for value in request.form.getlist("columns"):
        raw_id, _colon, name = value.partition(":")
        dataset_id = whole_number(raw_id)
        if dataset_id is None or not name:
            raise ValidationFailed(
                "A covered column was not understood; nothing was saved.",
                {"columns": f"Unexpected value {value[:80]!r}."},
            )
        columns.setdefault(dataset_id, []).append(name)
    return columns


def posted_personnel() -> dict[int, str]:
    people: dict[int, str] = {}
    for key, role in request.form.items(multi=True):
        if not key.startswith("personnel-") or not role:
            continue
        user_id = whole_number(key.removeprefix("personnel-"))
        if user_id is None:
            raise ValidationFailed(
                "A person was not understood; nothing was saved.",
                {"personnel": f"Unexpected field {key[:80]!r}."},
            )
        people[user_id] = role
    return people


def terms_from(form: TermsForm) -> TermsInput:
    rounding = form.rounding_base.data
    if rounding not in ("", None, "5"):
        raise ValidationFailed(
            "Some terms are not valid; nothing was saved.",
            {"rounding_base": "Choose no rounding or rounding to base 5."},
        )
    return TermsInput(
        title=form.title.data or "",
        purpose=form.purpose.data or "",
        effective_date=form.effective_date.data,
        expiry_date=form.expiry_date.data,
        permitted_uses=list(form.permitted_uses.data or []),
        columns=posted_columns(),
        signatories=[
            *_signatories("provider", form.provider_signatories.data),
            *_signatories("recipient", form.recipient_signatories.data),
        ],
        research_products_owner=form.research_products_owner.data or "",
        laws=list(form.laws.data or []),
        legal_bases=parse_legal_bases(form.legal_bases.data or ""),
        third_party_recipients=(form.third_party_recipients.data or "").splitlines(),
        publication_allowed=bool(form.publication_allowed.data),
        min_cell_size=form.min_cell_size.data,
        min_cohort_size=form.min_cohort_size.data,
        preview_window_days=form.preview_window_days.data,
        two_checkers_required=bool(form.two_checkers_required.data),
        dominance_threshold=form.dominance_threshold.data,
        rounding_base=int(rounding) if rounding else None,
        protection_width=form.protection_width.data,
        max_abs_smd=DEFAULT_MAX_ABS_SMD if form.max_abs_smd.data is None else form.max_abs_smd.data,
        min_link_probability=DEFAULT_MIN_LINK_PROBABILITY
        if form.min_link_probability.data is None
        else form.min_link_probability.data,
        row_level_download=bool(form.row_level_download.data),
        min_age=form.min_age.data,
        excluded_offence_categories=(form.excluded_offence_categories.data or "").splitlines(),
        withheld_offence_categories=(form.withheld_offence_categories.data or "").splitlines(),
        destruction_days=form.destruction_days.data,
        personnel=posted_personnel(),
        acceptance_required=bool(form.acceptance_required.data),
        attestation_months=form.attestation_months.data,
        ethics_required=bool(form.ethics_required.data),
        provider_notice_hours=form.provider_notice_hours.data,
        progress_months=form.progress_months.data,
        max_unique_share=form.max_unique_share.data,
        derived_forms=form.derived_forms.data or "",
        public_register=bool(form.public_register.data),
        lay_summary=form.lay_summary.data or "",
    )


def parse_legal_bases(text: str) -> dict[str, str]:
    """ "code: basis" lines; a line without a colon is refused by the terms check (its code is
    not a law cited)."""
    bases: dict[str, str] = {}
    for line in text.splitlines():
        code, _, basis = line.partition(":")
        if line.strip():
            bases[code.strip()] = basis.strip()
    return bases


def form_data(terms: TermsInput) -> dict[str, Any]:
    """Initial values of the form from terms (editing a draft or an amendment)."""

    def lines(party: str) -> str:
        return "\n".join(
            s.name + (f" | {s.title}" if s.title else "")
            for s in terms.signatories
            if s.party == party
        )

    return {
        "title": terms.title,
        "purpose": terms.purpose,
        "permitted_uses": terms.permitted_uses,
        "laws": terms.laws,
        "legal_bases": "\n".join(f"{code}: {basis}" for code, basis in terms.legal_bases.items()),
        "provider_signatories": lines("provider"),
        "recipient_signatories": lines("recipient"),
        "research_products_owner": terms.research_products_owner,
        "third_party_recipients": "\n".join(terms.third_party_recipients),
        "publication_allowed": terms.publication_allowed,
        "min_cell_size": terms.min_cell_size,
        "min_cohort_size": terms.min_cohort_size,
        "dominance_threshold": terms.dominance_threshold,
        "rounding_base": str(terms.rounding_base or ""),
        "protection_width": terms.protection_width,
        "max_abs_smd": terms.max_abs_smd,
        "min_link_probability": terms.min_link_probability,
        "two_checkers_required": terms.two_checkers_required,
        "preview_window_days": terms.preview_window_days,
        "row_level_download": terms.row_level_download,
        "min_age": terms.min_age,
        "excluded_offence_categories": "\n".join(terms.excluded_offence_categories),
        "withheld_offence_categories": "\n".join(terms.withheld_offence_categories),
        "destruction_days": terms.destruction_days,
        "acceptance_required": terms.acceptance_required,
        "attestation_months": terms.attestation_months,
        "ethics_required": terms.ethics_required,
        "provider_notice_hours": terms.provider_notice_hours,
        "progress_months": terms.progress_months,
        "max_unique_share": terms.max_unique_share,
        "derived_forms": terms.derived_forms,
        "public_register": terms.public_register,
        "lay_summary": terms.lay_summary,
        "effective_date": terms.effective_date,
        "expiry_date": terms.expiry_date,
    }
