"""What a run's report and audit record say about where its figures came from.

Provenance: the agreement version and its thresholds, every dataset version read (with its
SHA-256 and the audit event that recorded the read), the cohort file, the parameters as run
(after the agreement's eligibility terms were applied), the engine version (package version
and `git describe` where the code is a git checkout), and the SHA-256 of each output.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import subprocess
from typing import Any

from governance.kernel.config import PROJECT_ROOT
from governance.kernel.types import canonical_json

REFUSAL_CLAUSES = {
    "cohort_too_small": "publication.min_cohort_size",
    "direct_identifier": "privacy.no_identifiable_publication",
    "free_text": "privacy.no_identifiable_publication",
    "differencing": "publication.min_cell_size",
    "table_too_large": "publication.aggregate_only",
    "lowest_value_not_declared": "publication.rounding_base",
    "below_declared_lowest": "publication.rounding_base",
}


@functools.cache
def engine_version() -> str:
    """The package version, plus `git describe` of the checkout when there is one."""
    try:
        version = importlib.metadata.version("governance")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    try:
        # A fixed command in our own checkout; no user input reaches it.
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],  # noqa: S607
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return version
    tag = described.stdout.strip()
    return f"{version}+git.{tag}" if described.returncode == 0 and tag else version


def json_ready(value: Any) -> Any:
    """A result as plain JSON types (numpy scalars become Python numbers, NaN becomes null)."""
    return json.loads(
        json.dumps(value, default=_convert, allow_nan=True), parse_constant=lambda _name: None
    )


def _convert(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def sha256_of(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def result_digest(result: dict[str, Any]) -> str:
    return sha256_of(canonical_json(result))
