"""Form handling shared by every blueprint."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_wtf import FlaskForm
from wtforms import SelectChoice

from governance.kernel.errors import ValidationFailed


class Form(FlaskForm):  # type: ignore[misc]
    """Base of every form. CSRFProtect checks the token of every POST before any view runs
    (templates send it as `csrf_token`), so forms need not carry their own, whatever their
    prefix."""

    class Meta:
        csrf = False


def submitted(form: FlaskForm) -> bool:
    """True when the form was posted and is valid; a posted, invalid form is a 422.

    A missing or wrong CSRF token is answered by CSRFProtect before the view runs, so an
    invalid form here means invalid fields.
    """
    if not form.is_submitted():
        return False
    if form.validate():
        return True
    fields = {name: "; ".join(str(e) for e in errors) for name, errors in form.errors.items()}
    raise ValidationFailed("Some fields need correcting; nothing was saved.", fields)


def choices(pairs: Iterable[tuple[Any, str]]) -> list[SelectChoice]:
    """Options for a select field from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]
