"""JSON Schema pieces for the API's declarations, and the validator of what clients send.

Each handler declares its query parameters and body with these builders; the same dicts go
into the OpenAPI document (3.1, whose schemas are JSON Schema 2020-12) and check every
request, so the description cannot drift from what is enforced. The validator covers exactly
the keywords the builders emit, and names the field at fault in each 422.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from governance.kernel.errors import ValidationFailed
from governance.kernel.text import TEXT_PATTERN, refused_character
from governance.kernel.types import MAX_ID as MAX_ID  # the schemas' bound on ids, re-exported

Schema = dict[str, Any]

# Typed text refuses what the pages' forms refuse (kernel/text.py: control characters,
# PostgreSQL cannot store NUL; invisible formatting would make what is shown differ from what
# was typed); line breaks and tabs are allowed.
_DATE = re.compile("^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def text(max_length: int = 4000, *, min_length: int = 0, description: str = "") -> Schema:
    schema: Schema = {"type": "string", "maxLength": max_length, "pattern": TEXT_PATTERN}
    if min_length:
        schema["minLength"] = min_length
    if description:
        schema["description"] = description
    return schema


def enum(values: Any, *, description: str = "") -> Schema:
    schema: Schema = {"type": "string", "enum": [str(v) for v in values]}
    if description:
        schema["description"] = description
    return schema


def integer(minimum: int = 0, maximum: int = MAX_ID, *, description: str = "") -> Schema:
    schema: Schema = {"type": "integer", "minimum": minimum, "maximum": maximum}
    if description:
        schema["description"] = description
    return schema


def identifier(description: str = "") -> Schema:
    return integer(1, MAX_ID, description=description)


def number(minimum: float, maximum: float, *, description: str = "") -> Schema:
    schema: Schema = {"type": "number", "minimum": minimum, "maximum": maximum}
    if description:
        schema["description"] = description
    return schema


def boolean(description: str = "") -> Schema:
    return {"type": "boolean", **({"description": description} if description else {})}


def date(description: str = "") -> Schema:
    return {
        "type": "string",
        "format": "date",
        **({"description": description} if description else {}),
    }


def array(
    items: Schema, *, max_items: int = 500, min_items: int = 0, description: str = ""
) -> Schema:
    schema: Schema = {"type": "array", "items": items, "maxItems": max_items}
    if min_items:
        schema["minItems"] = min_items
    if description:
        schema["description"] = description
    return schema


def nullable(schema: Schema) -> Schema:
    """The same schema, also accepting null."""
    kind = schema["type"]
    result = dict(schema, type=[kind, "null"])
    if "enum" in result:
        result["enum"] = [*result["enum"], None]
    return result


def obj(
    properties: Mapping[str, Schema], *, required: tuple[str, ...] = (), description: str = ""
) -> Schema:
    """An object with exactly these properties: unknown ones are refused."""
    schema: Schema = {
        "type": "object",
        "properties": dict(properties),
        "additionalProperties": False,
    }
    if required:
        schema["required"] = list(required)
    if description:
        schema["description"] = description
    return schema


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def loose(schema: Schema) -> Schema:
    """An input schema as a response shape: the types, without the limits on what is sent."""
    limits = {
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "minimum",
        "maximum",
        "additionalProperties",
    }
    result = {k: v for k, v in schema.items() if k not in limits}
    if "items" in result:
        result["items"] = loose(result["items"])
    if "properties" in result:
        result["properties"] = {k: loose(v) for k, v in result["properties"].items()}
    return result


# Output-only shapes (documentation of responses; never used to validate input).
def time_out(description: str = "") -> Schema:
    return {
        "type": "string",
        "format": "date-time",
        **({"description": description} if description else {}),
    }


def string_out(description: str = "") -> Schema:
    return {"type": "string", **({"description": description} if description else {})}


def shape(properties: Mapping[str, Schema], *, description: str = "") -> Schema:
    """A response object: every listed property is always present."""
    schema: Schema = {
        "type": "object",
        "properties": dict(properties),
        "required": list(properties),
    }
    if description:
        schema["description"] = description
    return schema


# ------------------------------------------------------------------ validation of input ----


def validate(schema: Schema, value: Any, where: str = "body") -> Any:
    """Check a parsed JSON value; raise 422 naming every field at fault."""
    errors: dict[str, str] = {}
    _check(schema, value, where, errors)
    if errors:
        listed = "; ".join(f"{name}: {problem}" for name, problem in errors.items())
        raise ValidationFailed(f"The request was not accepted ({listed}).", errors)
    return value


def _types(schema: Schema) -> list[str]:
    kind = schema.get("type")
    return list(kind) if isinstance(kind, list) else [kind] if kind else []


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return False


def _check(schema: Schema, value: Any, where: str, errors: dict[str, str]) -> None:
    kinds = _types(schema)
    matched = next((k for k in kinds if _type_ok(k, value)), None)
    if matched is None:
        errors[where] = f"expected {' or '.join(kinds)}"
        return
    if "enum" in schema and value not in schema["enum"]:
        errors[where] = "one of " + ", ".join(str(v) for v in schema["enum"] if v is not None)
    elif matched == "string":
        _check_string(schema, value, where, errors)
    elif matched in ("integer", "number"):
        if value < schema.get("minimum", value) or value > schema.get("maximum", value):
            errors[where] = f"from {schema.get('minimum')} to {schema.get('maximum')}"
    elif matched == "array":
        if len(value) > schema.get("maxItems", len(value)):
            errors[where] = f"at most {schema['maxItems']} items"
        elif len(value) < schema.get("minItems", 0):
            errors[where] = f"at least {schema['minItems']} items"
        else:
            for index, item in enumerate(value):
                _check(schema["items"], item, f"{where}[{index}]", errors)
    elif matched == "object":
        _check_object(schema, value, where, errors)


def _check_string(schema: Schema, value: str, where: str, errors: dict[str, str]) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        errors[where] = "not valid Unicode text"
        return
    if len(value) > schema.get("maxLength", len(value)):
        errors[where] = f"at most {schema['maxLength']} characters"
    elif len(value) < schema.get("minLength", 0):
        errors[where] = (
            "required" if schema["minLength"] == 1 else f"at least {schema['minLength']} characters"
        )
    elif "pattern" in schema and refused_character(value):
        errors[where] = "contains control characters or invisible formatting; send plain text"
    elif schema.get("format") == "date" and parse_date(value) is None:
        errors[where] = "an ISO date such as 2026-01-31"


def parse_date(value: str) -> dt.date | None:
    """A `YYYY-MM-DD` date (RFC 3339 full-date, JSON Schema's `date` format), else None."""
    if not _DATE.match(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def to_date(value: str) -> dt.date:
    """A date the validator already accepted."""
    parsed = parse_date(value)
    if parsed is None:
        raise ValidationFailed(f"{value!r} is not an ISO date.")
    return parsed


def _check_object(
    schema: Schema, value: dict[str, Any], where: str, errors: dict[str, str]
) -> None:
    properties: dict[str, Schema] = schema.get("properties", {})
    prefix = "" if where == "body" else f"{where}."
    for name in value:
        if name not in properties and schema.get("additionalProperties") is False:
            errors[f"{prefix}{name}"] = "unknown field"
    for name in schema.get("required", []):
        if name not in value:
            errors[f"{prefix}{name}"] = "required"
    for name, item in value.items():
        if name in properties:
            _check(properties[name], item, f"{prefix}{name}", errors)
