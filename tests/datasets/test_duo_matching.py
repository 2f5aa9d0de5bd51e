"""The GA4GH matching of a purpose against data-use conditions: examples and properties."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from governance.datasets.duo.matching import CHECKS, Conditions, Purpose, match
from governance.datasets.duo.ontology import duo

ONTOLOGY = duo()
ID = {s: ONTOLOGY.by_shorthand(s).id for s in ("NRES", "GRU", "HMB", "DS", "POA")}
MOD = {t.shorthand: t.id for t in ONTOLOGY.modifiers()}
KIND = {t.label: t.id for t in ONTOLOGY.research_kinds()}
PURPOSE_TERMS = [t.id for t in ONTOLOGY.permissions() if t.shorthand != "NRES"]
DIABETES = "MONDO:0005015"


def test_every_modifier_of_the_release_has_a_check() -> None:
    assert {t.shorthand for t in ONTOLOGY.modifiers()} == set(CHECKS)


def test_a_health_purpose_fits_general_research_data_but_not_the_reverse() -> None:
    assert match(ONTOLOGY, Conditions(ID["GRU"]), Purpose(ID["HMB"])).matches
    refused = match(ONTOLOGY, Conditions(ID["HMB"]), Purpose(ID["GRU"]))
    assert refused.failed is not None
    assert refused.failed.term == ID["HMB"]
    assert refused.failed.label == "health or medical or biomedical research"


def test_disease_specific_data_takes_only_its_disease() -> None:
    conditions = Conditions(ID["DS"], disease=DIABETES)
    assert match(ONTOLOGY, conditions, Purpose(ID["DS"], disease=DIABETES)).matches
    assert not match(ONTOLOGY, conditions, Purpose(ID["DS"], disease="MONDO:0004992")).matches
    assert not match(ONTOLOGY, conditions, Purpose(ID["HMB"])).matches
    # Health research data takes any disease-specific purpose (DS is a kind of HMB).
    assert match(ONTOLOGY, Conditions(ID["HMB"]), Purpose(ID["DS"], disease=DIABETES)).matches


def test_each_modifier_checks_its_fact_and_names_itself() -> None:
    facts = Purpose(
        ID["HMB"],
        ethics_approval="REC 21/NE/0001",
        will_publish=True,
        months=6,
        user="ana@uni.example",
        project="DUA-2026-001",
        region="Scotland",
        institution="University",
    )
    conditions = Conditions(
        ID["GRU"],
        modifiers={
            MOD["NPU"]: "",
            MOD["IRB"]: "",
            MOD["PUB"]: "",
            MOD["TS"]: "12",
            MOD["US"]: "ana@uni.example, bo@uni.example",
            MOD["PS"]: "DUA-2026-001",
            MOD["GS"]: "England, Scotland",
            MOD["IS"]: "University",
            MOD["NMDS"]: "",
            MOD["NPOA"]: "",
        },
    )
    assert match(ONTOLOGY, conditions, facts).matches
    for change, failing in [
        ({"for_profit_organisation": True}, "NPU"),
        ({"ethics_approval": ""}, "IRB"),
        ({"will_publish": False}, "PUB"),
        ({"months": 13}, "TS"),
        ({"user": "eve@else.example"}, "US"),
        ({"project": "DUA-2026-009"}, "PS"),
        ({"region": "Wales"}, "GS"),
        ({"institution": "Acme Ltd"}, "IS"),
        ({"research": frozenset({KIND["method development"]})}, "NMDS"),
        ({"research": frozenset({KIND["ancestry research"]})}, "NPOA"),
    ]:
        failed = match(ONTOLOGY, conditions, replace(facts, **change)).failed  # type: ignore[arg-type]
        assert failed is not None, change
        assert failed.term == MOD[failing], change
        assert failed.reason


def test_genetic_studies_only_takes_genetic_research_or_below() -> None:
    conditions = Conditions(ID["GRU"], modifiers={MOD["GSO"]: ""})
    assert not match(ONTOLOGY, conditions, Purpose(ID["HMB"])).matches
    genetic = Purpose(ID["HMB"], research=frozenset({KIND["genetic research"]}))
    assert match(ONTOLOGY, conditions, genetic).matches
    broader = Purpose(ID["HMB"], research=frozenset({KIND["biomedical research"]}))
    assert not match(ONTOLOGY, conditions, broader).matches


permissions = st.sampled_from([t.id for t in ONTOLOGY.permissions()])
purposes = st.sampled_from(PURPOSE_TERMS)
diseases = st.sampled_from(["", DIABETES, "MONDO:0004992"])
modifier_sets = st.dictionaries(
    st.sampled_from(sorted(MOD.values())),
    st.sampled_from(["", "12", "Scotland", "ana@uni.example", "DUA-2026-001", "2027-01-01"]),
    max_size=6,
)
facts = st.builds(
    Purpose,
    term=purposes,
    disease=diseases,
    research=st.frozensets(st.sampled_from(sorted(KIND.values())), max_size=3),
    for_profit_organisation=st.booleans(),
    commercial_use=st.booleans(),
    ethics_approval=st.sampled_from(["", "REC 1"]),
    will_publish=st.booleans(),
    will_collaborate=st.booleans(),
    will_return_data=st.booleans(),
    accepts_moratorium=st.booleans(),
    region=st.sampled_from(["", "Scotland", "Wales"]),
    user=st.sampled_from(["ana@uni.example", "eve@else.example"]),
    project=st.sampled_from(["DUA-2026-001", "DUA-2026-009"]),
    institution=st.sampled_from(["University", "Acme Ltd"]),
    months=st.integers(min_value=0, max_value=40),
)


@given(permission=permissions, purpose=purposes, disease=diseases)
def test_any_term_at_or_below_an_allowed_term_fits(
    permission: str, purpose: str, disease: str
) -> None:
    fits = match(ONTOLOGY, Conditions(permission, disease=disease), Purpose(purpose, disease))
    below = ONTOLOGY.is_a(purpose, permission)
    if permission == ID["NRES"] or below:
        assert fits.matches
    else:
        assert fits.failed is not None
        assert fits.failed.term == permission


@given(permission=permissions, disease=diseases, purpose=facts)
def test_a_purpose_outside_the_permission_is_refused_naming_it(
    permission: str, disease: str, purpose: Purpose
) -> None:
    outcome = match(ONTOLOGY, Conditions(permission, disease=disease), purpose)
    if permission != ID["NRES"] and not ONTOLOGY.is_a(purpose.term, permission):
        assert not outcome.matches
        assert outcome.outcomes[0].term == permission
        assert not outcome.outcomes[0].ok


@given(
    permission=permissions,
    modifiers=modifier_sets,
    extra=st.sampled_from(sorted(MOD.values())),
    parameter=st.sampled_from(["", "6", "Wales", "DUA-2026-001"]),
    purpose=facts,
)
def test_adding_a_modifier_never_turns_a_refusal_into_a_match(
    permission: str, modifiers: dict[str, str], extra: str, parameter: str, purpose: Purpose
) -> None:
    before = match(ONTOLOGY, Conditions(permission, modifiers=modifiers), purpose)
    after = match(
        ONTOLOGY, Conditions(permission, modifiers={**modifiers, extra: parameter}), purpose
    )
    if not before.matches:
        assert not after.matches
    # Every term gets its outcome: the permission and each modifier once.
    assert len(after.outcomes) == 1 + len({**modifiers, extra: parameter})


@given(permission=permissions, modifiers=modifier_sets, purpose=facts)
def test_a_narrower_permission_never_matches_more(
    permission: str, modifiers: dict[str, str], purpose: Purpose
) -> None:
    """Moving the conditions down the hierarchy (GRU to HMB to DS) only takes purposes away."""
    for narrower in ONTOLOGY.permissions():
        if narrower.id != permission and ONTOLOGY.is_a(narrower.id, permission):
            wide = match(ONTOLOGY, Conditions(permission, purpose.disease, modifiers), purpose)
            narrow = match(ONTOLOGY, Conditions(narrower.id, purpose.disease, modifiers), purpose)
            assert wide.matches or not narrow.matches
