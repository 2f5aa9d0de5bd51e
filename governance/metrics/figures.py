"""Every governance figure, read from the audit trail and the lifecycle tables (one module of
queries, so the page, the API and the CSV cannot disagree with each other or with the trail).

A request's milestones come from its own audit events, in chain order: its first submission
(`access_request:submit`; a resubmission after a return does not count it again), the
steward's decision (approve or deny), the second approval of direct identifiers (or the
privacy officer's refusal), and the grant made from it (`grant:create`, which names the
request). A request is *decided* when it is approved in full (the grant exists) or denied;
*narrowed* when it was approved without some of the columns asked for.

Medians and 90th percentiles interpolate linearly between the two nearest ranks (as
PostgreSQL's `percentile_cont`, numpy's default and Excel's PERCENTILE.INC do), computed here
rather than in SQL so that SQLite and PostgreSQL give the same answer.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.access.models import AccessRequest
from governance.access.review import grants_due_for_review
from governance.agreements.queries import expiring
from governance.audit.models import AuditEvent, AuditType, Outcome, of_type
from governance.authz import Permission, rules
from governance.committees.queries import chaired_by
from governance.datasets.models import Dataset
from governance.identity.actors import Actor
from governance.identity.models import User, UserRole
from governance.identity.organization_model import Organization
from governance.kernel.errors import ValidationFailed
from governance.kernel.reports.tabular import iter_csv
from governance.kernel.tasks import registry as task_registry
from governance.kernel.text import whole_number
from governance.outputs.models import CheckDecision, OutputCheck

#: How far ahead expiring agreements are listed, and how long a grant may go unreviewed.
EXPIRY_HORIZON_DAYS = 90

_REQUEST_EVENTS = (
    AuditType.ACCESS_REQUEST_SUBMIT,
    AuditType.ACCESS_REQUEST_APPROVE,
    AuditType.ACCESS_REQUEST_APPROVE_IDENTIFIERS,
    AuditType.ACCESS_REQUEST_DENY,
)
#: The steps of a request, in order, as (key, label) for pages, the API and the CSV.
STEPS = (
    ("submission_to_decision", "Submission to decision"),
    ("submission_to_steward", "Submission to the steward's decision"),
    ("steward_to_second_approval", "Steward's decision to the second approval"),
    ("approval_to_grant", "Last approval to the grant"),
)


@dataclass(frozen=True)
class Filters:
    """What the figures are limited to: days (inclusive, UTC), a dataset, the requester's
    organisation. None means no limit."""

    start: dt.date | None = None
    end: dt.date | None = None
    dataset_id: int | None = None
    organization_id: int | None = None

    def covers(self, moment: dt.datetime | None) -> bool:
        if moment is None:
            return False
        day = moment.astimezone(dt.UTC).date()
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


@dataclass
class RequestHistory:
    """One request's milestones, as its audit events record them."""

    request_id: int
    submitted_at: dt.datetime | None = None
    last_submitted_at: dt.datetime | None = None
    steward_at: dt.datetime | None = None
    second_at: dt.datetime | None = None
    decided_at: dt.datetime | None = None
    outcome: str | None = None  # "approved" or "denied" once decided
    narrowed: bool = False
    granted_at: dt.datetime | None = None
    waiting_second: bool = False

    def durations(self) -> dict[str, float | None]:
        """Hours of each step, None where the request did not take it."""

        def hours(start: dt.datetime | None, end: dt.datetime | None) -> float | None:
            return None if start is None or end is None else (end - start).total_seconds() / 3600

        last_approval = self.second_at or self.steward_at
        return {
            "submission_to_decision": hours(self.submitted_at, self.decided_at),
            "submission_to_steward": hours(self.last_submitted_at, self.steward_at),
            "steward_to_second_approval": hours(self.steward_at, self.second_at),
            "approval_to_grant": hours(last_approval, self.granted_at),
        }


@dataclass(frozen=True)
class Month:
    month: str  # YYYY-MM
    received: int
    decided: int
    approved: int
    narrowed: int
    rejected: int


@dataclass(frozen=True)
class StepTime:
    key: str
    label: str
    count: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class OwnerOverdue:
    owner_id: int
    owner: str
    overdue: int
    oldest_due: dt.date


@dataclass(frozen=True)
class ExpiringAgreement:
    agreement_id: int
    reference: str
    expiry_date: dt.date
    days_left: int


@dataclass(frozen=True)
class UnreviewedGrant:
    grant_id: int
    holder_id: int
    dataset_id: int
    agreement_id: int
    last_reviewed: dt.date | None
    since: dt.date


@dataclass(frozen=True)
class CheckerCount:
    checker: str
    approved: int
    returned: int

    @property
    def total(self) -> int:
        return self.approved + self.returned


@dataclass(frozen=True)
class Figures:
    """Everything the metrics page, the API and the CSV show, computed once."""

    filters: Filters
    today: dt.date
    months: list[Month] = field(default_factory=list)
    steps: list[StepTime] = field(default_factory=list)
    overdue: list[OwnerOverdue] = field(default_factory=list)
    expiring: list[ExpiringAgreement] = field(default_factory=list)
    unreviewed: list[UnreviewedGrant] = field(default_factory=list)
    checkers: list[CheckerCount] = field(default_factory=list)


def parse_filters(args: Mapping[str, str]) -> Filters:
    """Filters from a query string: start and end as YYYY-MM-DD, dataset_id, organization_id
    (empty or absent: no limit). Bad values are refused (422), not ignored."""

    def day(name: str) -> dt.date | None:
        text = (args.get(name) or "").strip()
        try:
            return dt.date.fromisoformat(text) if text else None
        except ValueError as error:
            raise ValidationFailed("Dates are written YYYY-MM-DD.", {name: "YYYY-MM-DD"}) from error

    def number(name: str) -> int | None:
        text = (args.get(name) or "").strip()
        if not text:
            return None
        number = whole_number(text)
        if number is None:
            raise ValidationFailed("Choose one from the list.", {name: "Not a known choice."})
        return number

    return Filters(
        start=day("start"),
        end=day("end"),
        dataset_id=number("dataset_id"),
        organization_id=number("organization_id"),
    )


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The `fraction` quantile by linear interpolation between closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _requests_in_scope(session: Session, filters: Filters) -> set[int] | None:
    """Ids of the requests the dataset and organisation filters keep (None: every one)."""
    if filters.dataset_id is None and filters.organization_id is None:
        return None
    statement = select(AccessRequest.id)
    if filters.dataset_id is not None:
        statement = statement.where(AccessRequest.dataset_id == filters.dataset_id)
    if filters.organization_id is not None:
        statement = statement.join(User, User.id == AccessRequest.requester_id).where(
            User.organization_id == filters.organization_id
        )
    return set(session.scalars(statement))


def request_histories(session: Session, filters: Filters) -> list[RequestHistory]:
    """Every request's milestones from its audit events (successful ones, in chain order)."""
    kept = _requests_in_scope(session, filters)
    histories: dict[int, RequestHistory] = {}
    events = session.execute(
        select(
            AuditEvent.event_type, AuditEvent.target_id, AuditEvent.occurred_at, AuditEvent.detail
        )
        .where(
            of_type(*_REQUEST_EVENTS),
            AuditEvent.target_type == "access_request",
            AuditEvent.outcome == Outcome.SUCCESS,
        )
        .order_by(AuditEvent.seq)
    )
    for event_type, target_id, at, detail in events:
        request_id = whole_number(target_id or "")
        if request_id is None:
            continue
        if kept is not None and request_id not in kept:
            continue
        history = histories.setdefault(request_id, RequestHistory(request_id))
        _apply(history, AuditType(event_type), at, detail or {})
    grants = session.execute(
        select(AuditEvent.occurred_at, AuditEvent.detail).where(
            of_type(AuditType.GRANT_CREATE),
            AuditEvent.outcome == Outcome.SUCCESS,
        )
    )
    for at, detail in grants:
        made_for = (detail or {}).get("request_id")
        if isinstance(made_for, int) and made_for in histories:
            histories[made_for].granted_at = at
    return [histories[key] for key in sorted(histories)]


def _apply(
    history: RequestHistory, event_type: AuditType, at: dt.datetime, detail: Mapping[str, Any]
) -> None:
    if event_type == AuditType.ACCESS_REQUEST_SUBMIT:
        history.submitted_at = history.submitted_at or at
        history.last_submitted_at = at
    elif event_type == AuditType.ACCESS_REQUEST_APPROVE:
        history.steward_at = at
        history.narrowed = bool(detail.get("left_out"))
        if detail.get("direct_identifiers"):
            history.waiting_second = True
        else:
            history.decided_at, history.outcome = at, "approved"
    elif event_type == AuditType.ACCESS_REQUEST_APPROVE_IDENTIFIERS:
        history.second_at, history.waiting_second = at, False
        history.decided_at, history.outcome = at, "approved"
    elif event_type == AuditType.ACCESS_REQUEST_DENY:
        if history.waiting_second:
            history.second_at, history.waiting_second = at, False
        else:
            history.steward_at = at
        history.decided_at, history.outcome = at, "denied"


def _month(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m")


def monthly(histories: Sequence[RequestHistory], filters: Filters) -> list[Month]:
    """Requests received (by first submission) and decided (by decision) per month."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for history in histories:
        if filters.covers(history.submitted_at):
            assert history.submitted_at is not None
            counts[_month(history.submitted_at)]["received"] += 1
        if history.outcome and filters.covers(history.decided_at):
            assert history.decided_at is not None
            month = counts[_month(history.decided_at)]
            month["decided"] += 1
            month["approved" if history.outcome == "approved" else "rejected"] += 1
            if history.outcome == "approved" and history.narrowed:
                month["narrowed"] += 1
    return [
        Month(
            month=key,
            received=c["received"],
            decided=c["decided"],
            approved=c["approved"],
            narrowed=c["narrowed"],
            rejected=c["rejected"],
        )
        for key, c in sorted(counts.items())
    ]


def step_times(histories: Sequence[RequestHistory], filters: Filters) -> list[StepTime]:
    """Median and 90th percentile of each step, over the requests decided in the period."""
    samples: dict[str, list[float]] = {key: [] for key, _ in STEPS}
    for history in histories:
        if not (history.outcome and filters.covers(history.decided_at)):
            continue
        for key, hours in history.durations().items():
            if hours is not None:
                samples[key].append(hours)
    return [
        StepTime(
            key=key,
            label=label,
            count=len(samples[key]),
            median_hours=percentile(samples[key], 0.5),
            p90_hours=percentile(samples[key], 0.9),
        )
        for key, label in STEPS
    ]


def overdue_by_owner(session: Session, *, today: dt.date) -> list[OwnerOverdue]:
    """Tasks past their due date on each person's dashboards (the registry's providers), a
    task shown to one person under two roles counted once."""
    roles = set(task_registry.providers)
    people = session.scalars(
        select(User)
        .where(
            User.active.is_(True),
            User.id.in_(select(UserRole.user_id).where(UserRole.role.in_(roles))),
        )
        .order_by(User.name, User.id)
    )
    found: list[OwnerOverdue] = []
    for person in people:
        late: dict[tuple[str, str, str], dt.date] = {}
        for role in sorted(str(r) for r in person.role_set if str(r) in roles):
            for provider in task_registry.providers[role]:
                for task in provider(session, person):
                    if task.due is not None and task.due < today:
                        late[(task.endpoint, repr(sorted(task.params.items())), task.title)] = (
                            task.due
                        )
        if late:
            found.append(OwnerOverdue(person.id, person.name, len(late), min(late.values())))
    return sorted(found, key=lambda o: (-o.overdue, o.oldest_due, o.owner))


def expiring_agreements(session: Session, *, today: dt.date) -> list[ExpiringAgreement]:
    return [
        ExpiringAgreement(a.id, a.reference, v.expiry_date, (v.expiry_date - today).days)
        for a, v in expiring(session, today=today, within=EXPIRY_HORIZON_DAYS)
    ]


def unreviewed_grants(session: Session, *, now: dt.datetime) -> list[UnreviewedGrant]:
    return [
        UnreviewedGrant(
            grant_id=g.id,
            holder_id=g.user_id,
            dataset_id=g.dataset_id,
            agreement_id=g.agreement_id,
            last_reviewed=g.last_reviewed_at.date() if g.last_reviewed_at else None,
            since=(g.last_reviewed_at or g.created_at).date(),
        )
        for g in grants_due_for_review(session, now=now)
    ]


def checks_per_checker(session: Session, filters: Filters) -> list[CheckerCount]:
    """Output checks each checker recorded in the period, approvals and returns apart."""
    statement = select(OutputCheck.checker_label, OutputCheck.decision, func.count()).group_by(
        OutputCheck.checker_label, OutputCheck.decision
    )
    if filters.start is not None:
        statement = statement.where(
            OutputCheck.checked_at >= dt.datetime.combine(filters.start, dt.time(), tzinfo=dt.UTC)
        )
    if filters.end is not None:
        after = filters.end + dt.timedelta(days=1)
        statement = statement.where(
            OutputCheck.checked_at < dt.datetime.combine(after, dt.time(), tzinfo=dt.UTC)
        )
    totals: dict[str, Counter[str]] = defaultdict(Counter)
    for checker, decision, count in session.execute(statement):
        totals[checker][str(decision)] += count
    return [
        CheckerCount(name, c[CheckDecision.APPROVE.value], c[CheckDecision.RETURN.value])
        for name, c in sorted(totals.items(), key=lambda item: (-item[1].total(), item[0]))
    ]


def compute(session: Session, filters: Filters, *, now: dt.datetime) -> Figures:
    """Every figure at `now` (the caller checked the reader's permission)."""
    histories = request_histories(session, filters)
    today = now.astimezone(dt.UTC).date()
    return Figures(
        filters=filters,
        today=today,
        months=monthly(histories, filters),
        steps=step_times(histories, filters),
        overdue=overdue_by_owner(session, today=today),
        expiring=expiring_agreements(session, today=today),
        unreviewed=unreviewed_grants(session, now=now),
        checkers=checks_per_checker(session, filters),
    )


def may_read(session: Session, by: Actor) -> bool:
    """Whether `by` may read the figures (the menu shows the entry exactly then)."""
    if rules.metrics_reader(by, ()):  # holds the permission: no committee need be looked up
        return True
    return bool(rules.metrics_reader(by, chaired_by(session, by)))


def read_figures(session: Session, *, filters: Filters, by: Actor, now: dt.datetime) -> Figures:
    """The figures for a reader who holds `metrics:read` or chairs a committee (a refusal is
    recorded)."""
    rules.require(
        rules.metrics_reader,
        by,
        chaired_by(session, by),
        message=f"You need the {Permission.METRICS_READ.value} permission, or to chair a "
        f"committee: {Permission.METRICS_READ.description}",
        audit={"event_type": AuditType.METRICS_READ, "target_type": "metrics"},
    )
    if filters.start and filters.end and filters.start > filters.end:
        raise ValidationFailed(
            "The first day comes after the last day.", {"start": "Choose a day before the last."}
        )
    return compute(session, filters, now=now)


def csv_rows(figures: Figures) -> list[tuple[str, str, str, object]]:
    """Every figure as (figure, subject, measure, value): one tidy table a spreadsheet pivots."""
    rows: list[tuple[str, str, str, object]] = []
    for month in figures.months:
        for measure in ("received", "decided", "approved", "narrowed", "rejected"):
            rows.append(("requests", month.month, measure, getattr(month, measure)))
    for step in figures.steps:
        rows.append(("step_hours", step.key, "requests", step.count))
        rows.append(("step_hours", step.key, "median", _rounded(step.median_hours)))
        rows.append(("step_hours", step.key, "p90", _rounded(step.p90_hours)))
    for owner in figures.overdue:
        rows.append(("overdue_tasks", owner.owner, "overdue", owner.overdue))
        rows.append(("overdue_tasks", owner.owner, "oldest_due", owner.oldest_due.isoformat()))
    for agreement in figures.expiring:
        rows.append(("expiring_agreements", agreement.reference, "days_left", agreement.days_left))
    for grant in figures.unreviewed:
        rows.append(("unreviewed_grants", str(grant.grant_id), "since", grant.since.isoformat()))
    for checker in figures.checkers:
        rows.append(("output_checks", checker.checker, "approved", checker.approved))
        rows.append(("output_checks", checker.checker, "returned", checker.returned))
    return rows


def csv_export(figures: Figures) -> Iterator[bytes]:
    """The CSV the page and the API send: a header, then `csv_rows`."""
    return iter_csv(csv_rows(figures), header=("figure", "subject", "measure", "value"))


def _rounded(hours: float | None) -> float | str:
    return "" if hours is None else round(hours, 2)


def filter_choices(session: Session) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(datasets, organisations) as (id, name), for the page's filter."""
    datasets = session.execute(select(Dataset.id, Dataset.name).order_by(Dataset.name)).all()
    organizations = session.execute(
        select(Organization.id, Organization.name).order_by(Organization.name)
    ).all()
    return [(i, n) for i, n in datasets], [(i, n) for i, n in organizations]
