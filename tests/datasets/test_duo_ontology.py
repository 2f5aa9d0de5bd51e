"""The shipped DUO release: the file is the published one, and rdflib and pronto read it alike."""

from __future__ import annotations

import hashlib
from xml.etree import ElementTree

from governance.datasets.duo.ontology import (
    MODIFIER_ROOT,
    PERMISSION_ROOT,
    RELEASE_FILE,
    duo,
)

RELEASE_SHA256 = "6a34ce09ae07b1e37c6756e049c12129fd1104e7d9e6e2f8cee84d2ab374c45b"


def test_the_shipped_file_is_the_named_release() -> None:
    assert hashlib.sha256(RELEASE_FILE.read_bytes()).hexdigest() == RELEASE_SHA256
    assert duo().version == "2021-02-23"
    readme = (RELEASE_FILE.parent / "README.md").read_text()
    assert RELEASE_SHA256 in readme
    assert "2021-02-23" in readme
    assert "CC BY 4.0" in readme


def test_the_terms_the_issue_names_come_from_the_file() -> None:
    ontology = duo()
    expected = {
        "GRU": ("DUO:0000042", "general research use"),
        "HMB": ("DUO:0000006", "health or medical or biomedical research"),
        "DS": ("DUO:0000007", "disease specific research"),
        "NPU": ("DUO:0000045", "not for profit organisation use only"),
        "IRB": ("DUO:0000021", "ethics approval required"),
        "PUB": ("DUO:0000019", "publication required"),
        "TS": ("DUO:0000025", "time limit on use"),
        "US": ("DUO:0000026", "user specific restriction"),
        "PS": ("DUO:0000027", "project specific restriction"),
        "GS": ("DUO:0000022", "geographical restriction"),
    }
    for shorthand, (term_id, label) in expected.items():
        term = ontology.by_shorthand(shorthand)
        assert (term.id, term.label) == (term_id, label)
        assert term.definition  # IAO:0000115 from the file


def test_the_hierarchy_is_the_files() -> None:
    ontology = duo()
    ds, hmb, gru = (ontology.by_shorthand(s).id for s in ("DS", "HMB", "GRU"))
    assert ontology.is_a(ds, hmb)
    assert ontology.is_a(hmb, gru)
    assert ontology.is_a(ds, gru)
    assert not ontology.is_a(gru, hmb)
    assert ontology.is_a(ontology.by_shorthand("NPU").id, ontology.by_shorthand("NPUNCU").id)
    assert {t.shorthand for t in ontology.permissions()} == {"NRES", "GRU", "HMB", "DS", "POA"}
    assert all(MODIFIER_ROOT in ontology.ancestors(t.id) for t in ontology.modifiers())
    assert all(PERMISSION_ROOT in ontology.ancestors(t.id) for t in ontology.permissions())
    # Obsolete terms (research use only, the old consent code categories) are not offered.
    offered = {t.id for t in ontology.permissions() + ontology.modifiers()}
    assert "DUO:0000014" in ontology.terms
    assert "DUO:0000014" not in offered


def test_a_plain_xml_reading_finds_the_same_terms_and_hierarchy() -> None:
    """The RDF/XML read with the standard library's XML parser, not rdflib, agrees on every
    offered term's label and direct parents. (pronto, the other OWL reader, fails on this
    release's oboInOwl:ObsoleteClass.)"""
    rdf = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
    rdfs = "{http://www.w3.org/2000/01/rdf-schema#}"
    owl = "{http://www.w3.org/2002/07/owl#}"
    obo = "http://purl.obolibrary.org/obo/"
    found: dict[str, tuple[str, set[str]]] = {}
    # The file is the shipped release (its sha256 is checked above), not untrusted input.
    tree = ElementTree.parse(RELEASE_FILE)  # noqa: S314
    for node in tree.getroot().iter(f"{owl}Class"):
        about = node.get(f"{rdf}about", "")
        if not about.startswith(obo):
            continue
        label = node.findtext(f"{rdfs}label", default="")
        parents = {
            p.get(f"{rdf}resource", "")[len(obo) :].replace("_", ":", 1)
            for p in node.findall(f"{rdfs}subClassOf")
            if p.get(f"{rdf}resource", "").startswith(obo)
        }
        found[about[len(obo) :].replace("_", ":", 1)] = (label, parents)
    ontology = duo()
    offered = ontology.permissions() + ontology.modifiers() + ontology.research_kinds()
    assert len(offered) == 33
    for term in offered:
        assert found[term.id] == (term.label, set(term.parents))
