"""Checking a real response against what the OpenAPI document declares for it."""

from __future__ import annotations

import re
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from governance.openapi import document


def resolve(node: Any, doc: dict[str, Any]) -> Any:
    """The node with every local `$ref` replaced by what it points to."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target, doc)
        return {key: resolve(value, doc) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, doc) for item in node]
    return node


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any]]:
    doc = document()
    for template, item in doc["paths"].items():
        pattern = re.sub(r"\{\w+\}", "[^/]+", template)
        if re.fullmatch(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    raise AssertionError(f"{method} {path} is not in the OpenAPI document")


def assert_conforms(method: str, path: str, response: Any) -> None:
    """The status is declared for the operation, and a JSON body matches its schema."""
    template, operation = operation_for(method, path.split("?")[0])
    status = str(response.status_code)
    declared = operation["responses"]
    assert status in declared, (
        f"{method} {template} answered {status}, which the document "
        f"does not declare ({sorted(declared)}): "
        f"{response.get_data(as_text=True)[:300]}"
    )
    answer = resolve(declared[status], document())
    media = response.mimetype
    assert media in answer["content"], f"{method} {template} {status}: {media} not declared"
    if media == "application/json":
        schema = answer["content"][media]["schema"]
        Draft202012Validator(schema, format_checker=FormatChecker()).validate(response.get_json())
    for header in answer.get("headers", {}):
        assert header in response.headers, f"{method} {template} {status}: no {header}"
