"""One piece a higher layer installs for a lower one.

Arrows point one way (nouns import only the nouns below them: pyproject's import-linter
contracts), so where a lower package needs something only a higher one knows (the grants'
loader for the policy's index, an agreement's finder for the audit trail's evidence pack, the
URL map for a task's link), the composition root (`registry.py`, `registry_trail.py`) installs
it here at start. Installing twice is the same as once: the last one serves.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Installed(Generic[T]):
    """A slot for one installed piece; `missing` is the error's text when none is."""

    def __init__(self, missing: str) -> None:
        self._missing = missing
        self._pieces: list[T] = []

    def install(self, piece: T) -> None:
        self._pieces[:] = [piece]

    def get(self) -> T:
        if not self._pieces:
            raise RuntimeError(self._missing)
        return self._pieces[0]

    def get_or_none(self) -> T | None:
        """The piece, or None where its absence is a state (a bare test of the package)."""
        return self._pieces[0] if self._pieces else None
