"""The forms of the output pages, and the reading of a correction's uploaded files (which the API
shares). Choices are shown as selects, but the service decides what
is valid (a flag kind other than the two, a part the output does not have), so a forged form
gets the service's own explanation."""

from __future__ import annotations

import json
from typing import Any

from flask import request
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from governance.kernel.errors import ValidationFailed
from governance.outputs.models import AnswerKind, FlagKind, Output
from governance.web.forms import Form, choices


class CheckForm(Form):
    decision = StringField("Decision")
    reasons = TextAreaField("Reasons", validators=[Optional(), Length(max=5000)])


class FlagForm(Form):
    kind = SelectField(
        "What the flag is about",
        choices=choices((k.value, k.label) for k in FlagKind),
        validate_choice=False,
    )
    part = SelectField("Which part of the output", validate_choice=False)
    comment = TextAreaField(
        "Where exactly, and what is wrong", validators=[Optional(), Length(max=5000)]
    )


class AnswerForm(Form):
    answer = SelectField(
        "Answer", choices=choices((a.value, a.label) for a in AnswerKind), validate_choice=False
    )
    text = TextAreaField(
        "What was corrected, or the explanation", validators=[Optional(), Length(max=5000)]
    )


class ResolveForm(Form):
    note = TextAreaField("Why the answer suffices", validators=[Optional(), Length(max=5000)])


class NoConcernsForm(Form):
    note = TextAreaField("Note (optional)", validators=[Optional(), Length(max=2000)])


class CorrectForm(Form):
    summary = TextAreaField("Plain-language summary", validators=[Optional(), Length(max=10000)])


def correction_files(output: Output) -> dict[str, Any]:
    """The files of a correction as `correct_output` takes them, for the page and the API alike.
    The CSV is optional: the released one is made from the result, and one sent is only compared
    with it."""
    return {"pdf": uploaded_file("pdf"), "csv": sent_file("csv"), "result": uploaded_result(output)}


def uploaded_file(name: str) -> bytes:
    """The bytes of an uploaded file; empty when none was sent (the service then answers 403
    and 409 before 422)."""
    return sent_file(name) or b""


def sent_file(name: str) -> bytes | None:
    """The bytes of an optional upload, or None when none was sent (an empty file that was
    sent is b"", which the service refuses)."""
    file = request.files.get(name)
    if file is None or not file.filename:
        return None
    data: bytes = file.read()
    return data


def uploaded_result(output: Output) -> dict[str, Any]:
    """A corrected result JSON if one was uploaded, else the current result (a correction of
    the wording or the PDF layout only). Shared by the correction page and the API."""
    file = request.files.get("result")
    if file is None or not file.filename:
        return dict(output.result)
    try:
        result = json.loads(file.read().decode("utf-8"))
        # A lone surrogate ("\ud800") parses but can be neither stored nor recorded.
        json.dumps(result, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError) as exc:
        raise ValidationFailed(
            "The result file is not JSON.", {"result": "Upload the result as UTF-8 JSON."}
        ) from exc
    if not isinstance(result, dict):
        raise ValidationFailed(
            "The result file is not a JSON object.",
            {"result": "Upload the result as a JSON object."},
        )
    return result
