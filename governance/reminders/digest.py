"""Each person's digest of the tasks waiting on them: daily, weekly or none (their choice)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit.models import AuditType
from governance.audit.service import record
from governance.identity.models import User
from governance.kernel import notify
from governance.kernel.errors import ValidationFailed
from governance.reminders.ledger import open_tasks
from governance.reminders.models import DIGEST_PERIODS, Digest, MailPreference

# A digest is due a little before a full period has passed, so that a job running every hour
# does not drift an hour later each day.
SLACK = dt.timedelta(minutes=90)
PREFERENCES_PATH = "/account/mail"


def preference(session: Session, user_id: int) -> MailPreference:
    found = session.get(MailPreference, user_id)
    return found if found is not None else MailPreference(user_id=user_id, digest=Digest.NONE)


def set_digest(session: Session, *, user: User, digest: str, by: User) -> MailPreference:
    """A person chooses how often they receive their digest (only their own)."""
    try:
        choice = Digest(digest)
    except ValueError:
        raise ValidationFailed(
            "Choose a digest: every day, every week or none.", {"digest": "not a choice"}
        ) from None
    chosen = session.get(MailPreference, user.id)
    if chosen is None:
        chosen = MailPreference(user_id=user.id)
        session.add(chosen)
    chosen.digest = choice
    record(
        session,
        AuditType.MAIL_DIGEST_CHOSEN,
        by=by,
        target_type="user",
        target_id=user.id,
        detail={"digest": choice.value},
    )
    return chosen


def send_digests(session: Session, _actor: object, now: dt.datetime) -> int:
    """The periodic job: a digest to each person whose period has passed; returns how many."""
    sent = 0
    for chosen, user in session.execute(
        select(MailPreference, User)
        .join(User, User.id == MailPreference.user_id)
        .where(MailPreference.digest != Digest.NONE, User.active.is_(True))
        .order_by(User.id)
    ):
        period = DIGEST_PERIODS[Digest(chosen.digest)]
        if chosen.digest_sent_at is not None and now - chosen.digest_sent_at < period - SLACK:
            continue
        chosen.digest_sent_at = now
        tasks = open_tasks(session, user.id)
        if not tasks:
            continue  # nothing waits: no message is better than an empty one
        sent += notify.queue_template(
            session,
            to=[user.email],
            template="digest.txt",
            kind=f"digest_{chosen.digest}",
            link=notify.link(session, "/dashboard"),
            name=user.name,
            period="daily" if chosen.digest == Digest.DAILY else "weekly",
            tasks=tasks,
            today=now.astimezone(dt.UTC).date(),
            preferences=notify.link(session, PREFERENCES_PATH),
        )
    return sent
