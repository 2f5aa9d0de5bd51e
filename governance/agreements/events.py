"""Hooks for other layers to react, inside the same transaction, when an agreement changes.

The access layer revokes or narrows grants when an agreement expires, is terminated or an
amendment drops columns or people; the dataset layer destroys data when an agreement closes.
Listeners run after the change and its audit event are written and before the caller commits:
if a listener raises, the whole transition is rolled back, so no agreement ends while grants
made under it survive.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from governance.agreements.models import Agreement, AgreementVersion
from governance.identity.actors import Actor


class AgreementEvent(StrEnum):
    ACTIVATED = "activated"
    AMENDED = "amended"  # an amendment was approved and replaced the version in force
    EXPIRED = "expired"
    TERMINATED = "terminated"
    DESTROYED = "destroyed"  # the data was destroyed and its destruction certified
    CLOSED = "closed"  # the close-out checklist held and the agreement was closed


class AgreementListener(Protocol):
    def __call__(
        self,
        session: Session,
        *,
        agreement: Agreement,
        event: AgreementEvent,
        previous_version: AgreementVersion | None,
        new_version: AgreementVersion | None,
        by: Actor,
        now: dt.datetime,
    ) -> None: ...


_listeners: list[AgreementListener] = []


def on_agreement_change(listener: AgreementListener) -> AgreementListener:
    """Add a listener (the registry adds the application's); adding twice has no effect."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def remove_listener(listener: AgreementListener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def notify(
    session: Session,
    *,
    agreement: Agreement,
    event: AgreementEvent,
    previous_version: AgreementVersion | None,
    new_version: AgreementVersion | None,
    by: Actor,
    now: dt.datetime,
) -> None:
    # The listeners are the registry's (governance/registry.py), installed when the app is built.
    for listener in list(_listeners):
        listener(
            session,
            agreement=agreement,
            event=event,
            previous_version=previous_version,
            new_version=new_version,
            by=by,
            now=now,
        )
