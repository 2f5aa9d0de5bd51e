"""The catalogue of analysis kinds an agreement may permit (`scope.permitted_uses`).

Declared once: agreements choose from it, and the analysis engine registers each of its
analyses against one of these names, so a request for an analysis the agreement does not
permit can be refused by citing the clause.
"""

from __future__ import annotations

from enum import StrEnum


class AnalysisKind(StrEnum):
    DESCRIPTIVE = "descriptive"
    RATE_COMPARISON = "rate_comparison"
    MATCHED_COMPARISON = "matched_comparison"
    RECORD_LINKAGE = "record_linkage"

    @property
    def label(self) -> str:
        return ANALYSIS_KIND_LABELS[self]

    @classmethod
    def label_of(cls, value: str) -> str:
        """The label of a stored value, or the value itself if the catalogue no longer has it."""
        try:
            return cls(value).label
        except ValueError:
            return value


ANALYSIS_KIND_LABELS = {
    AnalysisKind.DESCRIPTIVE: "Descriptive statistics",
    AnalysisKind.RATE_COMPARISON: "Rate comparison",
    AnalysisKind.MATCHED_COMPARISON: "Matched-comparison impact evaluation",
    AnalysisKind.RECORD_LINKAGE: "Record linkage",
}
