"""What an upload may be, and how what is wrong with it is reported.

Problems are located as a person finds them: "row 7, column age" with the header as row 1 of a
CSV file (as a spreadsheet numbers it), or "row 7" counting records from 1 in a Parquet file or
a data frame. The first `max_problems` problems in file order are kept, and all are counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from governance.kernel.errors import ValidationFailed

MB = 1024 * 1024


@dataclass(frozen=True)
class IngestLimits:
    """Limits every upload is held to; `max_bytes` and `max_rows` come from the MAX_UPLOAD_MB
    and MAX_UPLOAD_ROWS settings."""

    max_bytes: int = 200 * MB
    # Compressed Parquet holds millions of rows in kilobytes, so the size limit alone does not
    # bound the work and storage an upload costs.
    max_rows: int = 20_000_000
    max_columns: int = 2000
    max_field_bytes: int = 100 * 1024
    # A header longer than this is refused without parsing it (a million-column file).
    max_header_bytes: int = 1 * MB
    # A physical line longer than this is refused before it is held in memory.
    max_line_bytes: int = 16 * MB
    max_problems: int = 20
    batch_rows: int = 50_000

    @classmethod
    def from_settings(cls, settings: dict[str, object]) -> IngestLimits:
        megabytes = settings.get("MAX_UPLOAD_MB", 200)
        rows = settings.get("MAX_UPLOAD_ROWS", cls.max_rows)
        return cls(max_bytes=int(str(megabytes)) * MB, max_rows=int(str(rows)))

    @property
    def max_upload_label(self) -> str:
        return f"{self.max_bytes / MB:g} MB"

    def too_many_rows(self, *, row: int = 0) -> IngestionRefused:
        return refuse(
            "file",
            f"it has more than {self.max_rows:,} rows, the most one upload "
            "may hold; split it into several versions or ask an "
            "administrator",
            row=row,
        )


@dataclass(frozen=True, order=True)
class Problem:
    row: int
    position: int
    location: str = field(compare=False)
    message: str = field(compare=False)

    @property
    def text(self) -> str:
        return f"{self.location}: {self.message}"


class IngestionRefused(ValidationFailed):
    """The upload was refused; nothing was stored. Lists the first problems, in file order."""

    def __init__(self, summary: str, problems: Sequence[Problem] = (), total: int = 0) -> None:
        self.problems = list(problems)
        self.total = max(total, len(self.problems))
        message = f"The file was not stored. {summary}"
        if self.total > len(self.problems):
            message += f" The first {len(self.problems)} of {self.total:,} problems are listed."
        super().__init__(message, {p.location: p.message for p in self.problems})


def refuse(location: str, message: str, *, row: int = 0) -> IngestionRefused:
    """A problem that stops reading at once (the file as a whole, or its header)."""
    return IngestionRefused("1 problem found.", [Problem(row, 0, location, message)], 1)


class ProblemLog:
    """Collects problems as batches are checked in file order; keeps the first few."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self._first: list[Problem] = []

    def __bool__(self) -> bool:
        return self.count > 0

    def add(self, problem: Problem) -> None:
        self.count += 1
        if len(self._first) < self.limit or problem < self._first[-1]:
            self._first.append(problem)
            self._first.sort()
            del self._first[self.limit :]

    def counted(self, extra: int) -> None:
        """Count problems beyond those passed to `add` (found in bulk, not all itemised)."""
        self.count += extra

    @property
    def wants_more(self) -> bool:
        return len(self._first) < self.limit

    def refusal(self, summary: str | None = None) -> IngestionRefused:
        noun = "problem" if self.count == 1 else "problems"
        return IngestionRefused(summary or f"{self.count:,} {noun} found.", self._first, self.count)
