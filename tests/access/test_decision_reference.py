"""Our decision function agrees with plain Casbin over every grant line, on random cases.

The reference is pycasbin's ordinary `Enforcer`, loaded with every grant line through Casbin's
own text parser and scanning them all; ours asks Casbin about the candidate lines only. They
must give the same answer and name the same rule, also from several threads at once, and
hostile identifiers (`,` `)` quotes, spaces, non-ASCII) must not break or change a rule.
"""

from __future__ import annotations

import datetime as dt
import random
import threading

import casbin
from casbin import persist
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from governance.authz import identifiers as ids
from governance.authz.actions import DataAction
from governance.authz.decision import DataRequest, evaluate
from governance.authz.enforcer import DEFAULT_POLICY_DIR
from governance.authz.grant_index import GrantEntry, GrantIndex

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
COLUMNS = ["age", "sex", "name", "a,b", "x) || (true", "c d", "é", "' or 1=1 --", "p, y"]
PURPOSES = ["descriptive", "matched_comparison", "record_linkage", "weird, purpose)"]


def reference_enforcer(entries: list[GrantEntry]) -> casbin.Enforcer:
    enforcer = casbin.Enforcer(str(DEFAULT_POLICY_DIR / "model.conf"))
    for entry in sorted(entries, key=lambda e: e.id):
        for _, line in entry.lines():
            persist.load_policy_line("p, " + ", ".join(line), enforcer.get_model())
    return enforcer


def build_index(entries: list[GrantEntry]) -> GrantIndex:
    index = GrantIndex()
    index._apply((entry.id, entry) for entry in sorted(entries, key=lambda e: e.id))
    return index


def reference_answer(enforcer: casbin.Enforcer, request: DataRequest) -> tuple[bool, dict]:
    granted = {}
    allowed = True
    for column in dict.fromkeys(request.columns):
        ok, line = enforcer.enforce_ex(
            ids.subject(request.user_id),
            ids.domain(request.agreement_id),
            ids.column_object(request.dataset_id, column),
            request.action.value,
            ids.purpose_token(request.purpose),
            ids.time_token(request.now),
        )
        if ok:
            granted[column] = line[6]
        allowed = allowed and ok
    return allowed, granted


def random_entry(rng: random.Random, grant_id: int) -> GrantEntry:
    return GrantEntry(
        id=grant_id,
        user_id=rng.randint(1, 4),
        agreement_id=rng.randint(1, 2),
        agreement_version=rng.randint(1, 3),
        dataset_id=rng.randint(1, 2),
        purpose=rng.choice(PURPOSES),
        valid_until=NOW + dt.timedelta(days=rng.randint(-30, 60), seconds=rng.randint(0, 9)),
        actions=(DataAction.READ, DataAction.DOWNLOAD)
        if rng.random() < 0.3
        else (DataAction.READ,),
        columns=frozenset(rng.sample(COLUMNS, rng.randint(1, 4))),
    )


def random_request(rng: random.Random) -> DataRequest:
    return DataRequest(
        user_id=rng.randint(1, 4),
        agreement_id=rng.randint(1, 2),
        dataset_id=rng.randint(1, 2),
        columns=tuple(rng.sample(COLUMNS, rng.randint(1, 3))),
        action=rng.choice([DataAction.READ, DataAction.READ, DataAction.DOWNLOAD]),
        purpose=rng.choice(PURPOSES),
        now=NOW + dt.timedelta(days=rng.randint(-10, 40), seconds=rng.randint(0, 9)),
    )


def test_agrees_with_plain_casbin_on_ten_thousand_random_cases() -> None:
    rng = random.Random(20261123)
    cases = 0
    for round_number in range(50):
        entries = [random_entry(rng, grant_id) for grant_id in range(1, rng.randint(2, 40))]
        index, reference = build_index(entries), reference_enforcer(entries)
        for _ in range(200):
            request = random_request(rng)
            ours = evaluate(index, request)
            allowed, granted = reference_answer(reference, request)
            assert ours.allowed == allowed, (round_number, request)
            assert ours.granted == granted, (round_number, request)
            cases += 1
    assert cases >= 10_000


def test_agrees_under_eight_threads_at_once() -> None:
    rng = random.Random(7)
    entries = [random_entry(rng, grant_id) for grant_id in range(1, 60)]
    index, reference = build_index(entries), reference_enforcer(entries)
    requests = [random_request(rng) for _ in range(4000)]
    expected = [reference_answer(reference, r) for r in requests]
    failures: list[str] = []

    def worker(offset: int) -> None:
        for i in range(offset, len(requests), 8):
            ours = evaluate(index, requests[i])
            if (ours.allowed, ours.granted) != expected[i]:
                failures.append(f"case {i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


names = st.text(min_size=1, max_size=12)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(granted=st.lists(names, min_size=1, max_size=4, unique=True), asked=names, purpose=names)
def test_hostile_identifiers_cannot_widen_a_grant(
    granted: list[str], asked: str, purpose: str
) -> None:
    entry = GrantEntry(
        id=1,
        user_id=1,
        agreement_id=1,
        agreement_version=1,
        dataset_id=1,
        purpose=purpose,
        valid_until=NOW + dt.timedelta(days=1),
        actions=(DataAction.READ,),
        columns=frozenset(granted),
    )
    index, reference = build_index([entry]), reference_enforcer([entry])
    request = DataRequest(
        user_id=1,
        agreement_id=1,
        dataset_id=1,
        columns=(asked,),
        action=DataAction.READ,
        purpose=purpose,
        now=NOW,
    )
    ours = evaluate(index, request)
    assert ours.allowed == (asked in granted)
    assert (ours.allowed, ours.granted) == reference_answer(reference, request)


def test_refusals_name_the_clause() -> None:
    entry = GrantEntry(
        id=9,
        user_id=1,
        agreement_id=1,
        agreement_version=2,
        dataset_id=1,
        purpose="descriptive",
        valid_until=NOW + dt.timedelta(days=1),
        actions=(DataAction.READ,),
        columns=frozenset({"age", "sex"}),
    )
    index = build_index([entry])

    def ask(**changes: object) -> object:
        base = {
            "user_id": 1,
            "agreement_id": 1,
            "dataset_id": 1,
            "columns": ("age",),
            "action": DataAction.READ,
            "purpose": "descriptive",
            "now": NOW,
        }
        return evaluate(index, DataRequest(**{**base, **changes}))  # type: ignore[arg-type]

    allowed = ask()
    assert allowed.allowed
    assert allowed.rule == "grant:9"
    assert allowed.agreement_version == 2
    assert ask(columns=("age", "name")).clause == "access.columns"
    assert ask(purpose="record_linkage").clause == "scope.permitted_uses"
    assert ask(now=NOW + dt.timedelta(days=2)).clause == "access.valid_until"
    assert ask(action=DataAction.DOWNLOAD).clause == "access.row_level_download"
    assert ask(user_id=2).clause == "access.grant"
    assert not ask(columns=()).allowed
