"""Registry of analysis kinds and the engine's entry points for the governance layer.

The caller (1) looks a kind up and asks which columns it reads for given parameters, checks
them against the agreement's grant, (2) loads exactly those columns through its access-controlled
door, and (3) runs the kind with a ``RunContext`` holding the agreement's disclosure policy,
identifier and free-text columns, and the populations of outputs already released.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from .errors import AnalysisParameterError
from .kinds_base import AnalysisKind, RunContext
from .kinds_matched import MatchedComparisonKind
from .kinds_simple import DescriptiveKind, RateComparisonKind
from .results import AnalysisResult

KINDS: dict[str, AnalysisKind] = {
    kind.name: kind for kind in (DescriptiveKind(), RateComparisonKind(), MatchedComparisonKind())
}


def get_kind(name: str) -> AnalysisKind:
    """The kind called ``name``; ``AnalysisParameterError`` on field "kind" if unknown."""
    try:
        return KINDS[name]
    except KeyError:
        raise AnalysisParameterError(
            "kind", f"unknown analysis kind {name!r}; choose one of {', '.join(sorted(KINDS))}"
        ) from None


def list_kinds() -> list[dict[str, str]]:
    return [{"name": kind.name, "label": kind.label} for kind in KINDS.values()]


def kind_parameters() -> dict[str, dict[str, str]]:
    """Kind -> the parameters it takes, with what each means (refused if not listed)."""
    return {kind.name: dict(kind.parameters) for kind in KINDS.values()}


def columns_needed(kind: str, params: Mapping[str, Any]) -> dict[str, list[str]]:
    """Source table -> columns the kind will read with these parameters (validates them)."""
    return get_kind(kind).columns(params)


def validate_parameters(kind: str, params: Mapping[str, Any]) -> None:
    get_kind(kind).validate(params)


def run_analysis(
    kind: str, data: Mapping[str, pd.DataFrame], params: Mapping[str, Any], context: RunContext
) -> AnalysisResult:
    """Run ``kind``; the data must hold (at least) the columns ``columns_needed`` named."""
    return get_kind(kind).run(data, params, context)
