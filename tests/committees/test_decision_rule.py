"""The decision rule on generated cases: ties, recusal, a changed vote, the deadline."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from governance.committees.decision import (
    APPROVING,
    Outcome,
    chair_may_decide_alone,
    decide,
)
from governance.committees.models import DecisionRule, Vote

VOTES = st.sampled_from(list(Vote))
RULES = st.sampled_from(list(DecisionRule))


@st.composite
def cases(draw: st.DrawFn, *, everyone_votes: bool = False) -> tuple[list[int], dict[int, Vote]]:
    voters = list(range(1, draw(st.integers(1, 9)) + 1))
    who = voters if everyone_votes else draw(st.lists(st.sampled_from(voters), unique=True))
    return voters, {v: draw(VOTES) for v in who}


@given(cases(), RULES, st.integers(1, 9), st.dictionaries(st.integers(20, 30), VOTES))
def test_votes_of_people_who_may_not_vote_are_never_counted(
    case: tuple[list[int], dict[int, Vote]],
    rule: DecisionRule,
    quorum: int,
    outsiders: dict[int, Vote],
) -> None:
    """Recused members, observers and the requester (20-30 here) change nothing."""
    voters, votes = case
    alone = decide(rule, voters=voters, votes=votes, chair_id=1, quorum=quorum)
    with_outsiders = decide(
        rule, voters=voters, votes={**votes, **outsiders}, chair_id=1, quorum=quorum
    )
    assert alone == with_outsiders


@given(
    cases(),
    st.sampled_from([DecisionRule.ALL, DecisionRule.MAJORITY, DecisionRule.ANY_NO_BLOCKS]),
    st.data(),
)
def test_an_early_decision_is_the_one_every_remaining_vote_would_reach(
    case: tuple[list[int], dict[int, Vote]], rule: DecisionRule, data: st.DataObject
) -> None:
    voters, votes = case
    early = decide(rule, voters=voters, votes=votes, chair_id=None)
    if early.outcome == Outcome.PENDING:
        return
    rest = {v: data.draw(VOTES) for v in voters if v not in votes}
    final = decide(rule, voters=voters, votes={**votes, **rest}, chair_id=None)
    assert final.outcome == early.outcome


@given(cases(everyone_votes=True), st.booleans())
def test_a_majority_tie_is_decided_by_the_chairs_casting_vote_or_waits(
    case: tuple[list[int], dict[int, Vote]], casting: bool
) -> None:
    voters, votes = case
    result = decide(
        DecisionRule.MAJORITY, voters=voters, votes=votes, chair_id=1, casting_vote=casting
    )
    approvals = sum(v in APPROVING for v in votes.values())
    rejections = sum(v == Vote.REJECT for v in votes.values())
    if approvals > rejections:
        assert result.outcome == Outcome.APPROVED
    elif rejections > approvals:
        assert result.outcome == Outcome.REJECTED
    elif casting and votes[1] in APPROVING:
        assert result.outcome == Outcome.APPROVED
        assert "casting vote" in result.reason
    elif casting and votes[1] == Vote.REJECT:
        assert result.outcome == Outcome.REJECTED
    else:
        assert result.outcome == Outcome.PENDING


def test_a_two_two_tie_goes_the_chairs_way() -> None:
    votes = {1: Vote.REJECT, 2: Vote.APPROVE, 3: Vote.APPROVE, 4: Vote.REJECT}
    assert decide(DecisionRule.MAJORITY, voters=[1, 2, 3, 4], votes=votes, chair_id=1).outcome == (
        Outcome.REJECTED
    )
    assert decide(DecisionRule.MAJORITY, voters=[1, 2, 3, 4], votes=votes, chair_id=2).outcome == (
        Outcome.APPROVED
    )
    no_casting = decide(
        DecisionRule.MAJORITY, voters=[1, 2, 3, 4], votes=votes, chair_id=1, casting_vote=False
    )
    assert no_casting.outcome == Outcome.PENDING


@given(cases())
def test_under_any_no_blocks_one_rejection_rejects(
    case: tuple[list[int], dict[int, Vote]],
) -> None:
    voters, votes = case
    result = decide(DecisionRule.ANY_NO_BLOCKS, voters=voters, votes=votes)
    if Vote.REJECT in votes.values():
        assert result.outcome == Outcome.REJECTED
    else:
        assert result.outcome != Outcome.REJECTED or all(v == Vote.ABSTAIN for v in votes.values())


@given(cases())
def test_all_approves_only_when_every_member_approved(
    case: tuple[list[int], dict[int, Vote]],
) -> None:
    voters, votes = case
    result = decide(DecisionRule.ALL, voters=voters, votes=votes)
    everyone = len(votes) == len(voters) and all(v in APPROVING for v in votes.values())
    assert (result.outcome == Outcome.APPROVED) == everyone


@given(cases(), st.integers(1, 12))
def test_a_quorum_waits_until_enough_members_voted(
    case: tuple[list[int], dict[int, Vote]], quorum: int
) -> None:
    voters, votes = case
    result = decide(DecisionRule.QUORUM, voters=voters, votes=votes, quorum=quorum, chair_id=1)
    if len(votes) < quorum:
        assert result.outcome == Outcome.PENDING
        assert f"quorum of {quorum}" in result.reason


@given(cases(), RULES, st.integers(1, 9))
def test_recusing_a_member_is_the_same_as_their_not_being_a_voter(
    case: tuple[list[int], dict[int, Vote]], rule: DecisionRule, quorum: int
) -> None:
    voters, votes = case
    recused = voters[-1]
    rest = [v for v in voters if v != recused]
    result = decide(rule, voters=rest, votes=votes, chair_id=1, quorum=quorum)
    assert result.eligible == len(rest)
    assert result.cast == sum(1 for v in votes if v != recused)


@given(cases(), RULES, VOTES)
def test_a_changed_vote_counts_once_with_its_latest_value(
    case: tuple[list[int], dict[int, Vote]], rule: DecisionRule, changed: Vote
) -> None:
    voters, votes = case
    after = {**votes, voters[0]: changed}
    result = decide(rule, voters=voters, votes=after, quorum=2)
    assert result.cast == len(after)
    assert result.approvals == sum(v in APPROVING for v in after.values())


@given(
    st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)),
    st.integers(-10_000, 10_000),
)
def test_the_chair_decides_alone_only_from_the_deadline(now: dt.datetime, minutes: int) -> None:
    deadline = now + dt.timedelta(minutes=minutes)
    assert chair_may_decide_alone(deadline=deadline, now=now) == (minutes <= 0)


def test_nobody_left_to_vote_waits_for_the_chair_after_the_deadline() -> None:
    assert decide(DecisionRule.MAJORITY, voters=[], votes={}).outcome == Outcome.PENDING
