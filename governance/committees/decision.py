"""The decision rule: from the members who may vote and their current votes, the outcome.

A pure function (no database, no clock) so that every rule can be tested on generated cases
(tests/committees/test_decision_rule.py). Who may vote is decided by the caller: members who
are not observers, not recused and not the requester. Votes of anybody else are ignored here.

* all: every voting member approves; one rejection or abstention makes unanimity impossible.
* majority: more approvals than rejections once the result cannot change (abstentions count
  for neither side); decided early when the side ahead cannot be caught.
* quorum of N: at least N members have voted (abstentions count towards the quorum), then a
  majority of approvals over rejections; decided when the quorum is met.
* any "no" blocks: the first rejection rejects; approved once everybody voted (abstentions
  allowed) with at least one approval.

A tie (majority or quorum) is broken by the chair's casting vote when the committee allows it
and the chair voted approve or reject; otherwise the case waits (for the chair's vote, or the
deadline, after which the chair may decide alone).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

from governance.committees.models import DecisionRule, Vote

APPROVING = frozenset({Vote.APPROVE, Vote.APPROVE_WITH_CONDITIONS})


class Outcome(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Tally:
    outcome: Outcome
    reason: str
    eligible: int
    approvals: int
    rejections: int
    abstentions: int

    @property
    def cast(self) -> int:
        return self.approvals + self.rejections + self.abstentions

    @property
    def waiting(self) -> int:
        return self.eligible - self.cast


def decide(
    rule: DecisionRule,
    *,
    voters: Collection[int],
    votes: Mapping[int, Vote],
    chair_id: int | None = None,
    casting_vote: bool = True,
    quorum: int | None = None,
) -> Tally:
    """The outcome of a case under `rule`, given who may vote and each one's current vote."""
    eligible = set(voters)
    counted = {voter: vote for voter, vote in votes.items() if voter in eligible}
    approvals = sum(1 for v in counted.values() if v in APPROVING)
    rejections = sum(1 for v in counted.values() if v == Vote.REJECT)
    abstentions = sum(1 for v in counted.values() if v == Vote.ABSTAIN)
    waiting = len(eligible) - len(counted)

    def tally(outcome: Outcome, reason: str) -> Tally:
        return Tally(outcome, reason, len(eligible), approvals, rejections, abstentions)

    if not eligible:
        return tally(Outcome.PENDING, "nobody may vote on this case")
    if rule == DecisionRule.ALL:
        if rejections or abstentions:
            return tally(Outcome.REJECTED, "not every member approved")
        if waiting == 0:
            return tally(Outcome.APPROVED, "every member approved")
        return tally(Outcome.PENDING, "waiting for every member to approve")
    if rule == DecisionRule.ANY_NO_BLOCKS:
        if rejections:
            return tally(Outcome.REJECTED, "a member rejected it")
        if waiting == 0:
            if approvals:
                return tally(Outcome.APPROVED, "everybody voted and nobody rejected it")
            return tally(Outcome.REJECTED, "everybody abstained")
        return tally(Outcome.PENDING, "waiting for every member's vote")
    if rule == DecisionRule.QUORUM:
        needed = quorum or 1
        if len(counted) < needed:
            return tally(Outcome.PENDING, f"waiting for a quorum of {needed}")
        return _majority(tally, approvals, rejections, 0, counted, chair_id, casting_vote)
    return _majority(tally, approvals, rejections, waiting, counted, chair_id, casting_vote)


def _majority(
    tally: Callable[[Outcome, str], Tally],
    approvals: int,
    rejections: int,
    waiting: int,
    counted: Mapping[int, Vote],
    chair_id: int | None,
    casting_vote: bool,
) -> Tally:
    if approvals > rejections + waiting:
        return tally(Outcome.APPROVED, "a majority approved")
    if rejections > approvals + waiting:
        return tally(Outcome.REJECTED, "a majority rejected")
    if waiting:
        return tally(Outcome.PENDING, "waiting for more votes")
    chair_vote = counted.get(chair_id) if chair_id is not None else None
    if approvals == rejections and casting_vote and chair_vote is not None:
        if chair_vote in APPROVING:
            return tally(Outcome.APPROVED, "a tie, decided by the chair's casting vote")
        if chair_vote == Vote.REJECT:
            return tally(Outcome.REJECTED, "a tie, decided by the chair's casting vote")
    return tally(Outcome.PENDING, "a tie: waiting for the chair")


def chair_may_decide_alone(*, deadline: dt.datetime, now: dt.datetime) -> bool:
    """After the case's deadline the chair may decide without the rule being met."""
    return now >= deadline
