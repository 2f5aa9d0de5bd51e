"""Domain errors raised by the service layer; web/errors.py maps each to one HTTP status.

The service layer never imports Flask: a permission problem is `PermissionDenied` (403), a state
that forbids a transition is `InvalidTransition` (409), bad data is `ValidationFailed` (422).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Self


class DomainError(Exception):
    """Base of every error a user can cause; carries a message meant for that user.

    `audit` holds the fields of the audit event that records the refusal (event type, target,
    clause...). The refused action is rolled back, but the refusal itself is recorded and
    committed by whoever handles the error (web/errors.py, the CLI, the worker).
    """

    status = 400

    def __init__(self, message: str, *, audit: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.audit = dict(audit) if audit else None

    def recorded_as(self, audit: Mapping[str, Any]) -> Self:
        """This refusal, to be recorded with `audit`'s fields: for a refusal raised by code that
        does not know who asked or for what (a parser, a file check), whose caller does and
        passes it on. A refusal built where its fields are known takes them as `audit=`."""
        self.audit = dict(audit)
        return self


class NotFound(DomainError):
    status = 404


class PermissionDenied(DomainError):
    status = 403

    def __init__(
        self,
        message: str = "You do not have permission to do that.",
        *,
        clause: str | None = None,
        audit: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, audit=audit)
        self.clause = clause


class InvalidTransition(DomainError):
    """The object's state forbids the action; names the actions the state allows, and
    `current` what the caller must look at again before retrying (a changed impact)."""

    status = 409

    def __init__(
        self,
        message: str,
        *,
        allowed: Iterable[str] = (),
        current: Mapping[str, Any] | None = None,
        audit: Mapping[str, Any] | None = None,
    ) -> None:
        self.allowed = sorted(allowed)
        self.current = dict(current) if current is not None else None
        if self.allowed:
            message = f"{message} Allowed from this state: {', '.join(self.allowed)}."
        else:
            message = f"{message} No action is allowed from this state."
        super().__init__(message, audit=audit)


class Conflict(DomainError):
    """The request clashes with what exists (a duplicate name, a stale edit)."""

    status = 409


class ValidationFailed(DomainError):
    """Input is malformed or breaks a rule; `fields` maps each field to what is wrong."""

    status = 422

    def __init__(
        self,
        message: str,
        fields: Mapping[str, str] | None = None,
        *,
        audit: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, audit=audit)
        self.fields = dict(fields or {})


class TooLarge(DomainError):
    """An upload exceeds the size the service accepts for its kind."""

    status = 413


class ServiceUnavailable(DomainError):
    """A part the request needs (the database, the queue) is unreachable; retry later."""

    status = 503
