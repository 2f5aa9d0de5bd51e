"""Forms of the access pages."""

from __future__ import annotations

from wtforms import BooleanField, DateField, SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from governance.web.forms import Form


class CheckboxesField(SelectMultipleField):  # type: ignore[misc]
    """A group of checkboxes: keyboard- and screen-reader-friendly, unlike a multi-select."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


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
