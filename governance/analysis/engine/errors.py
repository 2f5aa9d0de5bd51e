"""Exceptions raised by the analysis engine.

The engine never returns a half-made result: a request that cannot be honoured raises one of
these, carrying a machine-readable field or reason so the governance layer can record why.
"""

from __future__ import annotations


class AnalysisError(Exception):
    """Base class of every error the analysis engine raises on purpose."""


class AnalysisParameterError(AnalysisError, ValueError):
    """A request parameter is missing, of the wrong type or outside its allowed range."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownParameters(AnalysisParameterError):
    """Parameters the kind does not take: refused, never silently ignored, so a request is
    never run as something other than what its author asked for."""

    def __init__(self, kind: str, names: list[str], accepted: list[str]) -> None:
        self.names = names
        self.accepted = accepted
        verb = "is not a parameter" if len(names) == 1 else "are not parameters"
        super().__init__(
            ", ".join(names), f"{verb} of {kind} analyses, which take {', '.join(accepted)}"
        )


class DataShapeError(AnalysisError, ValueError):
    """An input DataFrame lacks a required column or has values of the wrong kind."""

    def __init__(self, table: str, message: str) -> None:
        super().__init__(f"{table}: {message}")
        self.table = table
        self.message = message


REFUSAL_REASONS = {
    "cohort_too_small": "too few linked, eligible people for a meaningful comparison",
    "direct_identifier": "the output would be grouped by a direct identifier",
    "free_text": "the output would be grouped by a free-text column",
    "differencing": "the output's population differs from a released one by too few people",
    "table_too_large": "the table has too many cells to protect and audit",
    "lowest_value_not_declared": "under rounding, a mean of a number column needs the lowest "
    "value its steward declared",
    "below_declared_lowest": "the data holds a value below the lowest value declared for a "
    "column a mean is taken of",
}


class AnalysisRefused(AnalysisError):
    """The analysis cannot be released; ``reason`` is one of ``REFUSAL_REASONS`` so the
    governance layer can record and explain refusals consistently."""

    def __init__(self, reason: str, message: str) -> None:
        if reason not in REFUSAL_REASONS:
            raise ValueError(f"unknown refusal reason {reason!r}")
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class PropensityModelError(AnalysisError):
    """The propensity model cannot be fitted (perfect separation, collinearity, no variation)."""
