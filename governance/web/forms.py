"""Form handling shared by every blueprint.

A form that is sent with mistakes is shown again, on the page it was sent from, with each
mistake beside its field and what the person typed kept (status 422); never a separate error
page. `submitted(form)` raises `FormRefused` for a posted, invalid form; the error handler
(web/errors.py) calls `redisplay`, which runs the view of the page the form lives on again
within the same request: every form built there takes the posted values (Flask-WTF reads the
request's form data), and the form that was sent takes the errors. Refusals raised by a
service (a `ValidationFailed` naming fields) are shown the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import current_app, flash, g, redirect, request, url_for
from flask_wtf import FlaskForm
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse
from wtforms import SelectChoice, SelectMultipleField
from wtforms.widgets import CheckboxInput, ListWidget

from governance.kernel.errors import DomainError, ValidationFailed
from governance.kernel.extensions import db_session

REFUSED_MESSAGE = "Some fields need correcting; nothing was saved."


class FormRefused(ValidationFailed):
    """A posted form whose fields are invalid."""


class Form(FlaskForm):  # type: ignore[misc]
    """Base of every form. CSRFProtect checks the token of every POST before any view runs
    (templates send it as `csrf_token`), so forms need not carry their own, whatever their
    prefix.

    While a refused form's page is shown again (`redisplay`), the form built from the posted
    fields takes the refusal's errors."""

    class Meta:
        csrf = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        refusal: Mapping[str, str] | None = g.get("form_refusal_fields")
        if refusal is None or not self.posted():
            return
        for name, field in self._fields.items():
            if name in refusal:
                field.errors = [refusal[name]]

    def posted(self) -> bool:
        """This form is the one sent (a page may hold several): one of its fields, with its
        prefix, is in the posted data. Views set defaults only when it is not."""
        return request.method == "POST" and any(
            field.name in request.form for field in self._fields.values()
        )


def submitted(form: FlaskForm) -> bool:
    """True when the form was posted and is valid; a posted, invalid form is refused
    (`FormRefused`, shown again on its page with its errors, 422).

    A missing or wrong CSRF token is answered by CSRFProtect before the view runs, so an
    invalid form here means invalid fields. While a refused form's page is shown again this is
    False: the page is rendered, nothing is done.
    """
    if not form.is_submitted() or g.get("form_refusal_fields") is not None:
        return False
    if form.validate():
        return True
    fields = {name: "; ".join(str(e) for e in errors) for name, errors in form.errors.items()}
    raise FormRefused(REFUSED_MESSAGE, {str(k): v for k, v in fields.items()})


def _page_of_form() -> tuple[str, dict[str, Any], str | None] | None:
    """The endpoint, values and query string of the page the form was sent from: the address
    it was posted to when that page answers GET, otherwise the page that sent it (the Referer
    of this site, which browsers send on a same-origin post)."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    candidates: list[tuple[str, str | None]] = [(request.path, None)]
    referer = request.headers.get("Referer", "")
    if referer:
        parts = urlsplit(referer)
        if not parts.netloc or parts.netloc == request.host:
            candidates.append((parts.path, parts.query))
    for path, query in candidates:
        try:
            endpoint, values = adapter.match(path, method="GET")
        except HTTPException:
            continue
        if endpoint in current_app.view_functions and endpoint != "static":
            return str(endpoint), dict(values), query
    return None


class CheckboxesField(SelectMultipleField):  # type: ignore[misc]
    """A group of checkboxes: keyboard- and screen-reader-friendly, unlike a multi-select."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def redisplay(error: ValidationFailed) -> tuple[str, int] | None:
    """Render the page of a refused form again, the refusal beside the fields, with what was
    typed kept; None when there is no page to show it on (then the plain 422 page answers)."""
    if request.method != "POST" or g.get("form_refusal_fields") is not None:
        return None
    page = _page_of_form()
    if page is None:
        return None
    endpoint, values, query = page
    if query is not None:
        # The page is shown as it was asked for: its own query string (which agreement, which
        # kind), not the one of the address the form posted to.
        request.args = ImmutableMultiDict(parse_qsl(query, keep_blank_values=True))
    g.form_refusal_fields = dict(error.fields)
    g.form_refusal_message = error.message
    try:
        response = current_app.ensure_sync(current_app.view_functions[endpoint])(**values)
    except (HTTPException, DomainError):
        # The page itself cannot be shown now (its state changed, it refuses): the plain
        # refusal page answers instead.
        db_session().rollback()
        return None
    if isinstance(response, tuple):
        response = response[0]
    if not isinstance(response, str):
        return None
    return response, error.status


def refusal_context() -> dict[str, Any]:
    """For base.html: the refusal's message and every mistake, each linking to its field (the
    field shows it again beside itself where the page draws it with the `field` macro)."""
    fields: dict[str, str] | None = g.get("form_refusal_fields")
    if fields is None:
        return {}
    return {
        "form_refusal": {
            "message": g.get("form_refusal_message", REFUSED_MESSAGE),
            "fields": dict(fields),
        }
    }


def sent_or_blank(form_class: type[Any], endpoint: str, **view_args: Any) -> Any:
    """For a page with several forms of one class (a reason to amend and one to terminate, an
    answer per flag): the form as sent when this request posted it to `endpoint` with these
    `view_args` (shown again with its errors and what was typed), otherwise a blank one."""
    args = request.view_args or {}
    if request.endpoint == endpoint and all(args.get(k) == v for k, v in view_args.items()):
        return form_class()
    form = form_class(formdata=None)
    for each in form:
        each.errors = []
    return form


def choices(pairs: Iterable[tuple[Any, str]]) -> list[SelectChoice]:
    """Options for a select field from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


def committed(message: str, endpoint: str, **values: Any) -> BaseResponse:
    """Commit the request's one transaction, say so, and go to the page that shows it."""
    db_session().commit()
    flash(message, "success")
    return redirect(url_for(endpoint, **values))
