"""People as others name them: by e-mail for the audit trail's sentences, and found by name
or part of an e-mail for its filters (installed into `audit.directory` by the registry)."""

from __future__ import annotations

from sqlalchemy import String, func, or_, select
from sqlalchemy.orm import Session

from governance.identity.models import User
from governance.kernel.one_of import one_of

MATCH_LIMIT = 200  # a filter naming more people than this is not a filter

# Built once with one parameter for the list (kernel.one_of): the audit search names a page's
# people at every view, and building the IN list anew (a bound parameter per e-mail) cost more
# than the query.
NAMES_BY_EMAIL = select(User.email, User.name).where(
    one_of(func.lower(User.email), "emails", String())
)


def people_matching(session: Session, text: str) -> list[str]:
    """The e-mails of the people whose name or e-mail contains `text` (case-insensitive)."""
    needle = text.strip().lower()
    if not needle:
        return []
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = (
        select(User.email)
        .where(
            or_(
                func.lower(User.email).like(pattern, escape="\\"),
                func.lower(User.name).like(pattern, escape="\\"),
            )
        )
        .order_by(User.email)
        .limit(MATCH_LIMIT)
    )
    return [email.lower() for email in session.scalars(query)]
