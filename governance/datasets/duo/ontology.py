"""The GA4GH Data Use Ontology (DUO), read from the published release shipped in `data/`.

Nothing here lists the terms: their ids, labels, definitions, shorthands and is-a hierarchy
come from the OWL file (release and licence in `data/README.md`), parsed once with rdflib.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import OWL, RDF, RDFS

RELEASE_FILE = Path(__file__).parent / "data" / "duo.owl"
OBO = "http://purl.obolibrary.org/obo/"
DEFINITION = URIRef(OBO + "IAO_0000115")
SHORTHAND = URIRef("http://www.geneontology.org/formats/oboInOwl#shorthand")

#: The roots of the three branches a data-use statement draws on (ids of the release).
PERMISSION_ROOT = "DUO:0000001"  # data use permission: what the data may be used for
MODIFIER_ROOT = "DUO:0000017"  # data use modifier: conditions added to a permission
INVESTIGATION_ROOT = "OBI:0000066"  # investigation: the kinds of research DUO names


@dataclass(frozen=True)
class Term:
    id: str  # "DUO:0000042"
    label: str
    definition: str
    shorthand: str  # "GRU"; "" for the branch roots and the research kinds
    parents: frozenset[str]
    obsolete: bool

    @property
    def iri(self) -> str:
        return OBO + self.id.replace(":", "_", 1)

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "label": self.label, "shorthand": self.shorthand}


class Ontology:
    """The terms of one release and their is-a hierarchy."""

    def __init__(self, version: str, terms: Iterable[Term]) -> None:
        self.version = version
        self.terms = {t.id: t for t in terms}
        self._by_shorthand = {t.shorthand: t for t in self.terms.values() if t.shorthand}

    def term(self, term_id: str) -> Term | None:
        return self.terms.get(term_id)

    def by_shorthand(self, shorthand: str) -> Term:
        return self._by_shorthand[shorthand]

    def label(self, term_id: str) -> str:
        term = self.terms.get(term_id)
        return term.label if term else term_id

    @functools.cache  # noqa: B019 - one ontology per release, kept for the process's life
    def ancestors(self, term_id: str) -> frozenset[str]:
        """Every term above `term_id` (not itself), following is-a to the top."""
        found: set[str] = set()
        todo = list(self.terms[term_id].parents) if term_id in self.terms else []
        while todo:
            parent = todo.pop()
            if parent not in found:
                found.add(parent)
                todo.extend(self.terms[parent].parents if parent in self.terms else ())
        return frozenset(found)

    def is_a(self, term_id: str, ancestor: str) -> bool:
        """`term_id` is `ancestor` or below it in the hierarchy."""
        return term_id == ancestor or ancestor in self.ancestors(term_id)

    def under(self, root: str) -> list[Term]:
        """The live (not obsolete) terms below `root`, in id order."""
        return sorted(
            (t for t in self.terms.values() if not t.obsolete and root in self.ancestors(t.id)),
            key=lambda t: t.id,
        )

    def permissions(self) -> list[Term]:
        return self.under(PERMISSION_ROOT)

    def modifiers(self) -> list[Term]:
        return self.under(MODIFIER_ROOT)

    def research_kinds(self) -> list[Term]:
        """DUO's own kinds of research (method development, genetic research...)."""
        return [t for t in self.under(INVESTIGATION_ROOT) if t.id.startswith("DUO:")]


def _curie(iri: str) -> str | None:
    if not iri.startswith(OBO):
        return None
    local = iri[len(OBO) :]
    prefix, _, number = local.partition("_")
    return f"{prefix}:{number}" if number else None


def _text(graph: Graph, subject: URIRef, predicate: URIRef) -> str:
    values = [o for o in graph.objects(subject, predicate) if isinstance(o, Literal)]
    english = [v for v in values if v.language in (None, "en")]
    return str((english or values)[0]).strip() if values else ""


def parse(source: Path | str) -> Ontology:
    """Read a DUO release (RDF/XML) into its terms."""
    graph = Graph()
    graph.parse(source, format="xml")
    version_iri = next(graph.objects(None, OWL.versionIRI), None)
    match = re.search(r"releases/([0-9-]+)/", str(version_iri or ""))
    terms = []
    for subject in graph.subjects(RDF.type, OWL.Class):
        if not isinstance(subject, URIRef):
            continue  # an anonymous class (a restriction), not a term
        curie = _curie(str(subject))
        if curie is None:
            continue
        label = _text(graph, subject, RDFS.label)
        parents = frozenset(
            p
            for o in graph.objects(subject, RDFS.subClassOf)
            if isinstance(o, URIRef) and (p := _curie(str(o))) is not None
        )
        deprecated = _text(graph, subject, OWL.deprecated).lower() == "true"
        terms.append(
            Term(
                id=curie,
                label=label or curie,
                definition=_text(graph, subject, DEFINITION),
                shorthand=_text(graph, subject, SHORTHAND),
                parents=parents,
                obsolete=deprecated or label.startswith("obsolete"),
            )
        )
    return Ontology(match.group(1) if match else "unknown", terms)


@functools.cache
def duo() -> Ontology:
    """The shipped release, parsed at first use."""
    return parse(RELEASE_FILE)
