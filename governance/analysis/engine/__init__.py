"""Statistical core of the analysis engine: disclosure control, tests, matching, JDL measures.

Pure computation on pandas DataFrames and plain parameters; no web framework, ORM or database
is imported here. The governance layer loads only granted columns, passes the agreement's
thresholds in (``DisclosurePolicy``, ``EligibilityRules``, ``MatchingOptions``) and stores the
JSON-ready results. See docs/analysis.md for methods, formulas, defaults and data shapes.

Entry points:
* ``kinds``: ``list_kinds``, ``columns_needed``, ``validate_parameters``, ``run_analysis``;
* ``att.estimate_att``: generic propensity-score matching ATT for any dataset;
* ``stats``: ``two_proportion_test``, ``welch_t_test``, ``weighted_summary``;
* ``tabulation`` / ``disclosure`` / ``ledger``: controlled tables and differencing checks;
* ``linkage.link_cohort``, ``reoffending.derive_outcomes``, ``synthetic.generate_dataset``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .att import ATTResult, OutcomeEstimate, OutcomeSpec, estimate_att
    from .disclosure import TOTAL_LABEL, ControlledCell, ControlledTable, DisclosurePolicy
    from .errors import (
        AnalysisError,
        AnalysisParameterError,
        AnalysisRefused,
        DataShapeError,
        PropensityModelError,
        UnknownParameters,
    )
    from .kinds import (
        columns_needed,
        get_kind,
        kind_parameters,
        list_kinds,
        run_analysis,
        validate_parameters,
    )
    from .kinds_base import RunContext
    from .ledger import Population, differencing_conflicts, population_of, require_no_differencing
    from .linkage import LinkageResult, link_cohort
    from .matching import MatchingOptions, match_scores
    from .reoffending import EligibilityRules, derive_outcomes
    from .results import AnalysisResult, ResultTable
    from .stats import two_proportion_test, weighted_summary, welch_t_test
    from .synthetic import SyntheticDataset, generate_dataset
    from .tabulation import control_count_table, control_counts, control_means, control_rates

# Each public name and the module that defines it. The modules are imported when a name is first
# used, not with the package: the statistics (SciPy, DuckDB, pandas) cost about a second and
# 150 MB, and the service's start, its workers and every command import this package for a few
# names (errors, the kinds' parameters) long before, or without ever, running an analysis.
_SOURCES = {
    "ATTResult": "att",
    "AnalysisError": "errors",
    "AnalysisParameterError": "errors",
    "AnalysisRefused": "errors",
    "AnalysisResult": "results",
    "ControlledCell": "disclosure",
    "ControlledTable": "disclosure",
    "DataShapeError": "errors",
    "DisclosurePolicy": "disclosure",
    "EligibilityRules": "reoffending",
    "LinkageResult": "linkage",
    "MatchingOptions": "matching",
    "OutcomeEstimate": "att",
    "OutcomeSpec": "att",
    "Population": "ledger",
    "PropensityModelError": "errors",
    "ResultTable": "results",
    "RunContext": "kinds_base",
    "SyntheticDataset": "synthetic",
    "TOTAL_LABEL": "disclosure",
    "UnknownParameters": "errors",
    "columns_needed": "kinds",
    "control_count_table": "tabulation",
    "control_counts": "tabulation",
    "control_means": "tabulation",
    "control_rates": "tabulation",
    "derive_outcomes": "reoffending",
    "differencing_conflicts": "ledger",
    "estimate_att": "att",
    "generate_dataset": "synthetic",
    "get_kind": "kinds",
    "kind_parameters": "kinds",
    "link_cohort": "linkage",
    "list_kinds": "kinds",
    "match_scores": "matching",
    "population_of": "ledger",
    "require_no_differencing": "ledger",
    "run_analysis": "kinds",
    "two_proportion_test": "stats",
    "validate_parameters": "kinds",
    "weighted_summary": "stats",
    "welch_t_test": "stats",
}


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{source}"), name)
    globals()[name] = value
    return value


__all__ = [
    "TOTAL_LABEL",
    "ATTResult",
    "AnalysisError",
    "AnalysisParameterError",
    "AnalysisRefused",
    "AnalysisResult",
    "ControlledCell",
    "ControlledTable",
    "DataShapeError",
    "DisclosurePolicy",
    "EligibilityRules",
    "LinkageResult",
    "MatchingOptions",
    "OutcomeEstimate",
    "OutcomeSpec",
    "Population",
    "PropensityModelError",
    "ResultTable",
    "RunContext",
    "SyntheticDataset",
    "UnknownParameters",
    "columns_needed",
    "control_count_table",
    "control_counts",
    "control_means",
    "control_rates",
    "derive_outcomes",
    "differencing_conflicts",
    "estimate_att",
    "generate_dataset",
    "get_kind",
    "kind_parameters",
    "link_cohort",
    "list_kinds",
    "match_scores",
    "population_of",
    "require_no_differencing",
    "run_analysis",
    "two_proportion_test",
    "validate_parameters",
    "weighted_summary",
    "welch_t_test",
]
