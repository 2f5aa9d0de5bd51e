"""Administrators register webhook endpoints, switch them on and off, and send a message again.

Each action takes the acting user, checks `webhook:manage`, and records its audit event in the
caller's transaction. The signing secret is shown once, when it is generated or entered; it is
kept sealed (kernel/sealing.py), because signing needs it back.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import authz
from governance.audit.models import AuditType
from governance.audit.service import record
from governance.authz import Permission
from governance.identity.actors import Actor
from governance.kernel import jobs, sealing
from governance.kernel.errors import InvalidTransition, NotFound, ValidationFailed
from governance.kernel.keys import rings_of
from governance.webhooks.addresses import AddressRefused, allowed_hosts, check_url
from governance.webhooks.events import TYPES
from governance.webhooks.lifecycle import LIFECYCLE, DeliveryAction
from governance.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

SEAL_LABEL = "webhook-secret"
SECRET_PREFIX = "whsec_"  # noqa: S105  (the format's prefix, not a secret)
SECRET_BYTES = 32


@dataclass(frozen=True)
class Registered:
    endpoint: WebhookEndpoint
    secret: str  # shown once, never again


def settings(session: Session) -> dict[str, object]:
    value = session.info.get("settings")
    return value if isinstance(value, dict) else {}


def hosts_allowed(session: Session) -> frozenset[str]:
    return allowed_hosts(str(settings(session).get("WEBHOOK_ALLOWED_HOSTS", "")))


def _secret_bytes(secret: str) -> bytes:
    """The key a Standard Webhooks secret (`whsec_` + base64) stands for, or 422."""
    fields = {"secret": "Give a secret of the form whsec_<base64>, of 24 to 64 bytes."}
    if not secret.startswith(SECRET_PREFIX):
        raise ValidationFailed("The secret is not a Standard Webhooks secret.", fields)
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValidationFailed("The secret is not valid base64.", fields) from error
    if not 24 <= len(key) <= 64:
        raise ValidationFailed("The secret has the wrong length.", fields)
    return key


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_secret(session: Session, endpoint: WebhookEndpoint) -> str:
    """The endpoint's secret, for signing a message (never shown)."""
    return sealing.unseal(
        rings_of(session).data, SEAL_LABEL, endpoint.key_id, endpoint.sealed_secret
    ).decode()


def _audit(endpoint_id: int | None, event_type: AuditType) -> dict[str, object]:
    return {"event_type": event_type, "target_type": "webhook_endpoint", "target_id": endpoint_id}


def require_manager(by: Actor) -> None:
    """403, recorded as a refused registration, for anyone who may not manage webhooks."""
    authz.require(by, Permission.WEBHOOK_MANAGE, audit=_audit(None, AuditType.WEBHOOK_CREATE))


def register_endpoint(
    session: Session,
    *,
    url: str,
    event_types: Iterable[str],
    description: str = "",
    secret: str | None = None,
    by: Actor,
    now: dt.datetime,
) -> Registered:
    require_manager(by)
    types = sorted(set(event_types))
    unknown = [t for t in types if t not in TYPES]
    if not types or unknown:
        raise ValidationFailed(
            "Choose at least one of the published event types.",
            {"event_types": "Unknown: " + ", ".join(unknown) if unknown else "Choose one."},
        )
    url = url.strip()
    if len(url) > 2000:
        raise ValidationFailed("The address is too long.", {"url": "At most 2000 characters."})
    try:
        check_url(url, hosts_allowed(session))
    except AddressRefused as refused:
        raise ValidationFailed(str(refused), {"url": str(refused)}) from refused
    shown = secret.strip() if secret and secret.strip() else new_secret()
    _secret_bytes(shown)
    key_id, sealed = sealing.seal(rings_of(session).data, SEAL_LABEL, shown.encode())
    endpoint = WebhookEndpoint(
        url=url,
        description=description.strip()[:200],
        event_types=types,
        key_id=key_id,
        sealed_secret=sealed,
        enabled=True,
        consecutive_failures=0,
        created_at=now,
        created_by_id=by.id,
    )
    session.add(endpoint)
    session.flush()
    record(
        session,
        AuditType.WEBHOOK_CREATE,
        by=by,
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        detail={"url": url, "event_types": types},
        now=now,
    )
    return Registered(endpoint, shown)


def endpoint(session: Session, endpoint_id: int, *, by: Actor) -> WebhookEndpoint:
    authz.require(by, Permission.WEBHOOK_MANAGE)
    found = session.get(WebhookEndpoint, endpoint_id)
    if found is None:
        raise NotFound(f"There is no webhook endpoint {endpoint_id}.")
    return found


def set_enabled(
    session: Session, *, endpoint_id: int, enabled: bool, by: Actor, now: dt.datetime
) -> WebhookEndpoint:
    """Switch an endpoint on (its waiting messages go out again) or off (they wait)."""
    event_type = AuditType.WEBHOOK_ENABLE if enabled else AuditType.WEBHOOK_DISABLE
    authz.require(by, Permission.WEBHOOK_MANAGE, audit=_audit(endpoint_id, event_type))
    found = endpoint(session, endpoint_id, by=by)
    if found.enabled == enabled:
        raise InvalidTransition(
            f"The endpoint is already {'enabled' if enabled else 'disabled'}.",
            allowed=["disable" if enabled else "enable"],
        )
    found.enabled = enabled
    found.consecutive_failures = 0
    found.disabled_at = None if enabled else now
    found.disabled_reason = None if enabled else f"Disabled by {by.email}."
    record(session, event_type, by=by, target_type="webhook_endpoint", target_id=found.id, now=now)
    if enabled:
        due = session.scalars(
            select(WebhookDelivery.id).where(
                WebhookDelivery.endpoint_id == found.id,
                WebhookDelivery.status == DeliveryStatus.PENDING,
            )
        )
        for delivery_id in due:
            jobs.enqueue_after_commit(session, delivery_id, task=jobs.WEBHOOK_TASK_NAME)
    return found


def disable_failing(
    session: Session, found: WebhookEndpoint, *, by: Actor, now: dt.datetime, limit: int
) -> None:
    """Called by delivery when the endpoint has failed `limit` times in a row."""
    found.enabled = False
    found.disabled_at = now
    found.disabled_reason = f"Disabled automatically after {limit} failed attempts in a row."
    record(
        session,
        AuditType.WEBHOOK_DISABLE,
        by=by,
        target_type="webhook_endpoint",
        target_id=found.id,
        detail={"consecutive_failures": found.consecutive_failures, "automatic": True},
        now=now,
    )


def redeliver(
    session: Session, *, delivery_id: int, by: Actor, now: dt.datetime
) -> WebhookDelivery:
    """Send one message again now, whatever became of it (receivers drop a second copy by its
    webhook-id); its attempts start again from one."""
    authz.require(
        by,
        Permission.WEBHOOK_MANAGE,
        audit={
            "event_type": AuditType.WEBHOOK_REDELIVER,
            "target_type": "webhook_delivery",
            "target_id": delivery_id,
        },
    )
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        raise NotFound(f"There is no webhook delivery {delivery_id}.")
    if not delivery.endpoint.enabled:
        raise InvalidTransition("The endpoint is disabled: enable it first.", allowed=["enable"])
    LIFECYCLE.apply(
        session,
        delivery,
        DeliveryAction.REDELIVER,
        by=by,
        record={
            "target_type": "webhook_delivery",
            "target_id": delivery.id,
            "detail": {"endpoint_id": delivery.endpoint_id, "event_id": delivery.event_id},
            "now": now,
        },
    )
    delivery.attempts = 0
    delivery.next_attempt_at = now
    jobs.enqueue_after_commit(session, delivery.id, task=jobs.WEBHOOK_TASK_NAME)
    return delivery
