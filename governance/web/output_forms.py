"""The forms of the output pages. Choices are shown as selects, but the service decides what
is valid (a flag kind other than the two, a part the output does not have), so a forged form
gets the service's own explanation."""

from __future__ import annotations

from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from governance.models.output import AnswerKind, FlagKind
from governance.web.forms import Form, choices


class CheckForm(Form):
    decision = StringField("Decision")
    reasons = TextAreaField("Reasons", validators=[Optional(), Length(max=5000)])


class FlagForm(Form):
    kind = SelectField("What the flag is about",
                       choices=choices((k.value, k.label) for k in FlagKind),
                       validate_choice=False)
    part = SelectField("Which part of the output", validate_choice=False)
    comment = TextAreaField("Where exactly, and what is wrong",
                            validators=[Optional(), Length(max=5000)])


class AnswerForm(Form):
    answer = SelectField("Answer", choices=choices((a.value, a.label) for a in AnswerKind),
                         validate_choice=False)
    text = TextAreaField("What was corrected, or the explanation",
                         validators=[Optional(), Length(max=5000)])


class ResolveForm(Form):
    note = TextAreaField("Why the answer suffices", validators=[Optional(), Length(max=5000)])


class CorrectForm(Form):
    summary = TextAreaField("Plain-language summary", validators=[Optional(),
                                                                   Length(max=10000)])
