"""How an API endpoint is declared: one decorator registers the route and its description.

`@operation("GET", "/agreements/<int:agreement_id>", ...)` adds the Flask rule to the `api`
blueprint and records what the OpenAPI document says about it: summary, query parameters,
body and answers. Before the handler runs, the declared query parameters and JSON body are
checked against the same schemas (422 naming the field; unknown ones are refused), so the
description and the enforcement are one declaration. Handlers receive the checked values as
`query` and `body` keyword arguments when the operation declares query parameters or a body.

An operation may name a `precheck`, called with the path parameters before the body is read:
a lifecycle action checks there who may take it (403) and whether the state allows it (409),
so a form that does not matter yet is not the first thing refused.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from governance.api.schema import MAX_ID, Schema, parse_date, validate
from governance.kernel.errors import NotFound, ValidationFailed

API_PREFIX = "/api/v1"
bp = Blueprint("api", __name__, url_prefix=API_PREFIX)

# A JSON body larger than this is refused with 413 before it is read; uploads have their own
# limit (MAX_UPLOAD_MB).
MAX_JSON_BYTES = 256 * 1024
Handler = Callable[..., ResponseReturnValue]
#: Query strings whose typed values each operation keeps (least recently used dropped first).
QUERIES_KEPT = 1024


@dataclass(frozen=True)
class Param:
    """A query parameter. `many` parameters repeat (`?columns=a&columns=b`)."""

    name: str
    schema: Schema
    description: str = ""
    required: bool = False
    many: bool = False


@dataclass(frozen=True)
class Answer:
    """A successful answer: its status, what it is, and its body's schema or media type."""

    status: int
    description: str
    schema: Schema | None = None
    media_types: tuple[str, ...] = ("application/json",)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    endpoint: str
    method: str
    rule: str
    summary: str
    tag: str
    description: str
    query: tuple[Param, ...]
    body: Schema | None
    upload: Schema | None
    answer: Answer
    errors: tuple[int, ...]
    authenticated: bool

    @property
    def path(self) -> str:
        """The OpenAPI path: `/api/v1/agreements/{agreement_id}`."""
        return API_PREFIX + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.rule)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.rule)

    @property
    def path_converters(self) -> dict[str, str]:
        """Each path parameter's Flask converter (`int`, `uuid`...; `string` when none)."""
        return {
            name: converter or "string"
            for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", self.rule)
        }

    @property
    def statuses(self) -> list[int]:
        """Every status the operation may answer with, for the document."""
        found = {self.answer.status, *self.errors}
        if self.authenticated:
            found.add(401)
        if self.query or self.body is not None or self.upload is not None:
            found.add(422)
        if self.path_params:
            found.add(404)
        if self.body is not None:
            found.update({400, 413, 415})
        if self.upload is not None:
            found.update({413, 415})
        return sorted(found)


OPERATIONS: dict[str, Operation] = {}


def operation(
    method: str,
    rule: str,
    *,
    summary: str,
    tag: str,
    answer: Answer,
    description: str = "",
    query: tuple[Param, ...] = (),
    body: Schema | None = None,
    upload: Schema | None = None,
    errors: tuple[int, ...] = (),
    authenticated: bool = True,
    precheck: Callable[..., None] | None = None,
) -> Callable[[Handler], Handler]:
    """Register an API route with its description; see the module docstring."""

    def decorate(handler: Handler) -> Handler:
        endpoint = handler.__name__
        queries = KeptQueries(query)

        @wraps(handler)
        def view(**path: Any) -> ResponseReturnValue:
            for name, value in path.items():
                if isinstance(value, int) and value > MAX_ID:
                    raise NotFound(f"There is no {name.removesuffix('_id')} {value}.")
            arguments: dict[str, Any] = dict(path)
            if precheck is not None:
                precheck(**path)
            if query:
                arguments["query"] = queries.read()
            elif request.args:
                read_query(())
            if body is not None:
                arguments["body"] = read_body(body)
            elif upload is not None:
                if request.mimetype != "multipart/form-data":
                    raise UnsupportedMediaType("Send the file as multipart/form-data.")
            elif request.method in {"POST", "PATCH", "PUT"}:
                read_body(None)
            return handler(**arguments)

        if endpoint in OPERATIONS:
            raise RuntimeError(f"API endpoint {endpoint} is declared twice")
        OPERATIONS[endpoint] = Operation(
            endpoint=endpoint,
            method=method,
            rule=rule,
            summary=summary,
            tag=tag,
            description=description or (handler.__doc__ or "").strip(),
            query=query,
            body=body,
            upload=upload,
            answer=answer,
            errors=errors,
            authenticated=authenticated,
        )
        bp.add_url_rule(rule, endpoint=endpoint, view_func=view, methods=[method])
        return handler

    return decorate


class KeptQueries:
    """An operation's query parameters read from the query string, typed values kept by the
    raw string: a client paging through rows sends the same few query strings again and
    again, and typing and checking each parameter cost a twentieth of a read. Only accepted
    query strings are kept (a refused one is refused afresh each time); each request gets its
    own copy of the lists."""

    def __init__(self, params: tuple[Param, ...], size: int = QUERIES_KEPT) -> None:
        self.params = params
        self.size = size
        self._kept: OrderedDict[bytes, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def read(self) -> dict[str, Any]:
        raw = request.query_string
        with self._lock:
            kept = self._kept.get(raw)
            if kept is not None:
                self._kept.move_to_end(raw)
        if kept is None:
            kept = read_query(self.params)
            with self._lock:
                self._kept[raw] = kept
                while len(self._kept) > self.size:
                    self._kept.popitem(last=False)
        # Values are numbers, text, dates and lists of them: a list is the only one a handler
        # could change.
        return {name: list(v) if isinstance(v, list) else v for name, v in kept.items()}


def read_query(params: tuple[Param, ...]) -> dict[str, Any]:
    """The declared query parameters, typed; unknown or malformed ones are a 422."""
    declared = {p.name: p for p in params}
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    args = request.args  # once: each `request.` goes through the context's proxy
    for name in args:
        if name not in declared:
            errors[name] = "unknown query parameter"
    for param in params:
        raw = args.getlist(param.name)
        if not raw:
            if param.required:
                errors[param.name] = "required"
            continue
        if not param.many and len(raw) > 1:
            errors[param.name] = "give it once"
            continue
        typed = [_typed(param, item, errors) for item in raw]
        values[param.name] = typed if param.many else typed[0]
    if errors:
        listed = "; ".join(f"{name}: {problem}" for name, problem in errors.items())
        raise ValidationFailed(f"Some query parameters need correcting ({listed}).", errors)
    return values


def _typed(param: Param, raw: str, errors: dict[str, str]) -> Any:
    schema = param.schema.get("items", param.schema) if param.many else param.schema
    kind = schema.get("type")
    value: Any = raw
    if kind == "integer":
        if not re.fullmatch(r"-?[0-9]{1,19}", raw):
            errors[param.name] = "a whole number"
            return None
        value = int(raw)
    elif kind == "boolean":
        if raw not in {"true", "false"}:
            errors[param.name] = "true or false"
            return None
        value = raw == "true"
    try:
        validate(schema, value, param.name)
    except ValidationFailed as refusal:
        errors.update(refusal.fields)
        return None
    if schema.get("format") == "date":
        return parse_date(value)
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def read_body(schema: Schema | None) -> dict[str, Any]:
    """The JSON body, checked against `schema`; an operation without one takes no body."""
    request.max_content_length = MAX_JSON_BYTES
    raw = request.get_data(cache=True)
    if not raw.strip():
        data: Any = {}
    else:
        if request.mimetype != "application/json":
            raise UnsupportedMediaType("Send the body as JSON (Content-Type: application/json).")
        try:
            data = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise BadRequest(f"The body is not valid JSON: {exc}.") from exc
    if schema is None:
        if data != {}:
            raise ValidationFailed("This request takes no body.", {"body": "send none"})
        return {}
    validated: dict[str, Any] = validate(schema, data)
    return validated
