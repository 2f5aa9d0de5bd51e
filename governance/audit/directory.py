"""Who and what the audit trail's numbers and e-mails stand for, as a person names them.

The trail stores ids and e-mails (it has no foreign keys, on purpose); a compliance manager
reads names ("Alex Kim", "DUA-2026-001", "Index events") and types them in the filters. The
nouns that know those names sit above the audit package, so the registry installs their
look-ups here (as it installs the report's dataset namer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from governance.kernel.installed import Installed


@dataclass(frozen=True)
class Names:
    """People by e-mail, agreements' references and datasets' names by id."""

    people: Mapping[str, str] = field(default_factory=dict)
    agreements: Mapping[int, str] = field(default_factory=dict)
    datasets: Mapping[int, str] = field(default_factory=dict)

    def person(self, email: str | None) -> str:
        if not email or "@" not in email:
            return "The system"  # a scheduled job or the host operator (system:expiry)
        return self.people.get(email.lower(), email)

    def agreement(self, agreement_id: int | None) -> str:
        if agreement_id is None:
            return ""
        return self.agreements.get(agreement_id, f"agreement {agreement_id}")

    def dataset(self, dataset_id: int | None) -> str:
        if dataset_id is None:
            return ""
        return self.datasets.get(dataset_id, f"dataset {dataset_id}")


@dataclass(frozen=True)
class Directory:
    """The look-ups the nouns above provide; each takes the caller's session."""

    # E-mails, agreement ids, dataset ids -> their names, in one statement (registry_names).
    names_in: Callable[[Session, Sequence[str], Sequence[int], Sequence[int]], Names]
    # Name or partial e-mail -> the e-mails of the people it matches (at most a page of them).
    people_matching: Callable[[Session, str], list[str]]
    # Reference (DUA-2026-001) or number -> (id, reference).
    agreement_by_key: Callable[[Session, str], tuple[int, str] | None]
    # Name (or part of one) -> [(id, name)] of the datasets it matches.
    datasets_matching: Callable[[Session, str], list[tuple[int, str]]]


_directory: Installed[Directory] = Installed("No directory is installed: build the app first.")
install = _directory.install
# The directory the registry installed, or None (a bare test of the audit package).
installed = _directory.get_or_none


def names_for(session: Session, events: Iterable[object]) -> Names:
    """The names of everyone and everything the events mention, in one look-up."""
    directory = installed()
    if directory is None:
        return Names()
    emails: set[str] = set()
    agreements: set[int] = set()
    datasets: set[int] = set()
    for event in events:
        detail = getattr(event, "detail", None)
        for email in (
            getattr(event, "actor_email", None),
            detail.get("email") if isinstance(detail, dict) else None,
        ):
            if isinstance(email, str) and "@" in email:
                emails.add(email.lower())
        agreement_id = getattr(event, "agreement_id", None)
        if agreement_id is not None:
            agreements.add(agreement_id)
        dataset_id = getattr(event, "dataset_id", None)
        if dataset_id is not None:
            datasets.add(dataset_id)
    if not (emails or agreements or datasets):
        return Names()
    return directory.names_in(session, sorted(emails), sorted(agreements), sorted(datasets))
