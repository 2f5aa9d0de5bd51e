"""Forms of the access pages."""

from __future__ import annotations

from typing import Any

from wtforms import (
    BooleanField,
    DateField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from governance.datasets.duo.ontology import duo
from governance.datasets.duo.statements import DECLARED_FLAGS, purpose_terms
from governance.web.forms import CheckboxesField, Form, choices


class ScopeForm(Form):
    """First step of a request: which agreement and dataset (sent with GET)."""

    agreement_id = SelectField("Agreement", coerce=int, validators=[DataRequired()])
    dataset_id = SelectField("Dataset", coerce=int, validators=[DataRequired()])


class RequestForm(Form):
    columns = CheckboxesField("Columns you need", validators=[DataRequired()])
    purpose = SelectField(
        "Purpose (one of the agreement's permitted uses)", validators=[DataRequired()]
    )
    justification = TextAreaField(
        "Why each column is necessary", validators=[DataRequired(), Length(max=4000)]
    )
    end_date = DateField("Access needed until", validators=[DataRequired()])
    download = BooleanField(
        "I also need to download row-level data (only if the agreement allows it)"
    )
    # The research purpose as GA4GH DUO terms (access/data_use.py); the service requires it
    # when the dataset states data-use conditions.
    duo_purpose = SelectField("Research purpose (DUO term)", validators=[Optional()])
    duo_disease = StringField("Disease (MONDO id, for disease-specific research)")
    duo_research = CheckboxesField("Kinds of research involved (DUO)", validators=[Optional()])
    ethics_approval = StringField("Ethics approval reference", validators=[Length(max=500)])
    region = StringField("Where the data will be used (region)", validators=[Length(max=500)])
    for_profit_organisation = BooleanField("My organisation is a for-profit organisation")
    commercial_use = BooleanField("The use is commercial")
    will_publish = BooleanField("I will make the results available to the scientific community")
    will_collaborate = BooleanField("I will collaborate with the study's investigators")
    will_return_data = BooleanField("I will return derived or enriched data to the provider")
    accepts_moratorium = BooleanField("I accept the provider's publication moratorium")

    def offer_duo_terms(self) -> None:
        ontology = duo()
        self.duo_purpose.choices = choices(
            [("", "None stated")] + [(t.id, f"{t.label} ({t.id})") for t in purpose_terms(ontology)]
        )
        self.duo_research.choices = choices(
            (t.id, f"{t.label} ({t.id})") for t in ontology.research_kinds()
        )

    def duo_statement(self) -> dict[str, Any]:
        """The DUO fields as access/data_use.read_statement takes them."""
        return {
            "term": self.duo_purpose.data or "",
            "disease": self.duo_disease.data or "",
            "research": list(self.duo_research.data or []),
            "ethics_approval": self.ethics_approval.data or "",
            "region": self.region.data or "",
            **{name: bool(getattr(self, name).data) for name in DECLARED_FLAGS},
        }


def duo_form_data(record: dict[str, Any] | None) -> dict[str, Any]:
    """A kept purpose as the request form's data (a returned request shown again)."""
    if not record:
        return {}
    return {
        "duo_purpose": record.get("term", ""),
        "duo_disease": record.get("disease", ""),
        "duo_research": list(record.get("research", [])),
        "ethics_approval": record.get("ethics_approval", ""),
        "region": record.get("region", ""),
        **{name: bool(record.get(name)) for name in DECLARED_FLAGS},
    }


class ApproveForm(Form):
    columns = CheckboxesField("Columns to grant (minimum necessary)", validators=[DataRequired()])
    comment = TextAreaField("Comment to the requester", validators=[Optional(), Length(max=4000)])


class CommentForm(Form):
    comment = TextAreaField("Comment", validators=[Optional(), Length(max=4000)])


class ReasonForm(Form):
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=4000)])


class GrantReviewForm(Form):
    keep = CheckboxesField("Columns still needed")
    comment = TextAreaField("Review note", validators=[Optional(), Length(max=4000)])
