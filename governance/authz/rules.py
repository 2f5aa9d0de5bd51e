"""Object-level rules, each one named function: who may act on THIS object, beyond holding the
permission. Services, pages and the API call the same function (pages to show a button, the
service to decide), and a refusal is recorded in the audit trail under the rule's name.

The rules read attributes of the objects they are given and import no model: every noun may
call authz, and authz calls no noun.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

from governance.authz import Permission, can
from governance.kernel.errors import PermissionDenied

R = TypeVar("R", bound=Callable[..., bool])
RULES: dict[str, Callable[..., bool]] = {}


def object_rule(name: str) -> Callable[[R], R]:
    """Register a rule under the name the audit trail records when it refuses."""

    def register(rule: R) -> R:
        if name in RULES:
            raise RuntimeError(f"object rule {name!r} is declared twice")
        rule.rule_name = name  # type: ignore[attr-defined]
        RULES[name] = rule
        return rule

    return register


def require(
    rule: Callable[..., bool],
    by: Any,
    *objects: Any,
    message: str,
    audit: Mapping[str, Any] | None = None,
    clause: str | None = None,
) -> None:
    """403, recorded under the rule's name, unless the rule holds for `by` and the objects."""
    if not rule(by, *objects):
        name: str = rule.rule_name  # type: ignore[attr-defined]
        raise PermissionDenied(
            message, clause=clause, audit={**audit, "rule": name} if audit is not None else None
        )


# Committees (committees/cases.py): who votes on a case and who may decide it alone


@object_rule("committee-voter")
def committee_voter(by: Any, committee: Any) -> bool:
    """A chair or member of the committee; observers follow its cases but never vote."""
    return any(m.user_id == by.id and m.role != "observer" for m in committee.members)


@object_rule("not-recused")
def not_recused(by: Any, case: Any) -> bool:
    """A member who declared a conflict of interest on the case does not vote on it."""
    return by.id not in case.recused_ids


@object_rule("committee-chair")
def committee_chair(by: Any, committee: Any) -> bool:
    """The committee's chair (the casting vote, and deciding alone after the deadline)."""
    return by.id is not None and by.id == committee.chair_id


@object_rule("metrics-reader")
def metrics_reader(by: Any, committees: Any) -> bool:
    """Holds `metrics:read`, or chairs one of the given committees: the governance metrics are
    for privacy officers and committee chairs (a chair judges the committee's turnaround)."""
    return can(by, Permission.METRICS_READ) or (
        by is not None and by.id is not None and any(c.chair_id == by.id for c in committees)
    )


# Access requests


@object_rule("own-request")
def own_request(by: Any, request: Any) -> bool:
    """The person who made the request (only they change or withdraw it)."""
    return by.id is not None and by.id == request.requester_id


@object_rule("not-own-request")
def not_own_request(by: Any, request: Any) -> bool:
    """Anyone but the requester: nobody reviews their own request."""
    return bool(by.id != request.requester_id)


@object_rule("steward-of-dataset")
def steward_of_dataset(by: Any, dataset: Any) -> bool:
    """A steward of this dataset (stewards review only their own datasets' requests)."""
    return dataset is not None and by.id in dataset.steward_ids


@object_rule("second-approver")
def second_approver(by: Any, request: Any) -> bool:
    """Direct identifiers need two different people: neither the requester nor the steward
    who approved first."""
    return by.id not in {request.requester_id, request.steward_id}


@object_rule("not-the-holder")
def not_the_holder(by: Any, holder_id: int) -> bool:
    """Anyone but the grant's holder: nobody certifies their own access (separation of
    duties)."""
    return by.id is None or by.id != holder_id


@object_rule("steward-or-overseer")
def manages_grants_of(by: Any, dataset: Any) -> bool:
    """A steward of the dataset, or someone who oversees every grant (a privacy officer)."""
    return can(by, Permission.GRANT_OVERSEE) or steward_of_dataset(by, dataset)


# Agreements


@object_rule("separation-of-duties")
def not_a_contributor(by: Any, version: Any, key: str) -> bool:
    """Not one who drafted, edited or submitted this version (`key` names `by` as the
    version's contributor list does)."""
    return key not in version.contributors


# Outputs


@object_rule("partner-of-provider")
def partner_of_provider(by: Any, output: Any) -> bool:
    """A person (never the host operator) who may preview outputs, in the organisation that
    provided the data: the preview is the provider's own."""
    return (
        by.id is not None
        and can(by, Permission.OUTPUT_PREVIEW)
        and by.organization_id == output.agreement.provider_id
    )


@object_rule("project-team")
def project_team(by: Any, output: Any) -> bool:
    """The analyst who produced the output or the agreement's personnel (in the version it was
    produced under or the one in force); the host operator counts as the team."""
    if by.id is None:
        return True
    return by.id == output.produced_by_id or _named_personnel(
        by, output.agreement, output.agreement_version
    )


def _named_personnel(by: Any, agreement: Any, version: int) -> bool:
    """Named in the agreement's personnel: in the version the work was made under or the one
    in force now."""
    versions = {agreement.version(version), agreement.current_version}
    return any(v is not None and v.is_personnel(by.id) for v in versions)


@object_rule("checker-not-analyst")
def independent_of_the_project(
    by: Any, agreement: Any, version: int, made_by: Collection[str], key: str
) -> bool:
    """Not someone who made the work (`made_by`: who asked for the analysis run, produced
    or corrected its output, as `key` names `by`), nor anyone named in the agreement's
    personnel in the version the work was made under or the one in force: output checking
    (and deciding the provider's flags, publishing, and reading figures not yet released
    outside the secure environment) is independent of the project, as the Five Safes' "safe
    outputs" asks; the personnel may correct the output at any time."""
    if key in made_by:
        return False
    return by.id is None or not _named_personnel(by, agreement, version)


@object_rule("independent-checkers")
def not_checked_yet(by: Any, output: Any, key: str, checked_by: set[str]) -> bool:
    """Not the checker who already checked this revision: the second check is independent."""
    return key not in checked_by


# Datasets and roles


@object_rule("two-people-reclassify")
def not_the_asker(by: Any, asked: Any) -> bool:
    """Lowering a classification needs someone other than the person who asked."""
    return bool(asked.requested_by_label != by.email)


@object_rule("second-administrator")
def not_the_role_requester(by: Any, change: Any) -> bool:
    """A role that carries powers is approved by an administrator other than the one who
    asked for it."""
    return by.id is None or by.id != change.requested_by_id


@object_rule("no-self-role-change")
def not_oneself(by: Any, user_id: int) -> bool:
    """Nobody changes or approves their own roles."""
    return by.id is None or by.id != user_id


@object_rule("no-self-training-record")
def not_own_training(by: Any, user_id: int) -> bool:
    """Nobody records their own training: it is a condition of their own access to data, so
    whoever records it vouches for someone else. The same test as `not_oneself`, recorded
    under its own name."""
    return not_oneself(by, user_id)


@object_rule("no-self-organization-change")
def not_own_organization(by: Any, user_id: int) -> bool:
    """Nobody moves themselves to another organisation: it decides whose outputs they preview
    and whose requests they handle, as their roles do. The same test as `not_oneself`,
    recorded under its own name."""
    return not_oneself(by, user_id)
